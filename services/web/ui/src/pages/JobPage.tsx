// A job: its description, the trigger form built from its parameters, its graph, its last runs.
import { useState } from "preact/hooks";
import { useCan } from "../access";
import { ApiError, get, message, post } from "../api";
import { Graph } from "../Graph";
import { useRunEvents } from "../live";
import { latest, latestPage, type Job, type JobParameter, type Page, type Run } from "../types";
import {
  ActionButton, Crumbs, ErrorNote, StatusBadge, formatTime, href, navigate, runHref, shortId, useLoad,
} from "../util";

/** The values to send: an empty field is "not given", so the job's default applies (never ""). */
function given(job: Job, values: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const parameter of job.parameters) {
    const value = values[parameter.key] ?? "";
    if (value !== "") result[parameter.key] = value;
  }
  return result;
}

interface FieldProps {
  id: string;
  parameter: JobParameter;
  value: string;
  problem: string | undefined;
  onValue: (value: string) => void;
}

/** The control of one parameter, by its type: values stay strings ("true"/"false" for a checkbox). */
function ParameterControl({ id, parameter, value, problem, onValue }: FieldProps) {
  const common = {
    id,
    name: parameter.key,
    "aria-invalid": problem ? ("true" as const) : undefined,
    "aria-describedby": problem ? `${id}-error` : undefined,
  };
  const text = (event: Event) => onValue((event.target as HTMLInputElement | HTMLSelectElement).value);
  switch (parameter.type ?? "string") {
    case "boolean":
      return (
        <input {...common} type="checkbox" checked={value === "true"}
          onChange={(event) => onValue((event.target as HTMLInputElement).checked ? "true" : "false")} />
      );
    case "choice":
      return (
        <select {...common} value={value} onChange={text}>
          {parameter.required && parameter.default ? null : <option value="">—</option>}
          {(parameter.choices ?? []).map((choice) => (
            <option key={choice} value={choice}>{choice}</option>
          ))}
        </select>
      );
    case "integer":
    case "number":
      return (
        <input {...common} type="number" inputMode={parameter.type === "integer" ? "numeric" : "decimal"}
          step={parameter.type === "integer" ? 1 : "any"} value={value} placeholder={parameter.default ?? ""}
          onInput={text} />
      );
    default:
      if (parameter.secret) {
        return <input {...common} type="password" autoComplete="off" value={value} onInput={text} />;
      }
      return (
        <input {...common} value={value} placeholder={parameter.default ?? ""}
          title={parameter.pattern ? `must match ${parameter.pattern}` : undefined} onInput={text} />
      );
  }
}

function TriggerForm({ job, from }: { job: Job; from?: Run }) {
  // Filled from a run ("Edit and run"): its stored values, the defaults for keys it lacks. A
  // secret value is answered masked: its field stays empty, to be typed again. A checkbox shows
  // false when unchecked, so it sends what it shows ("false"), never "not given".
  const kept = (key: string) => (from?.secret_parameters?.includes(key) ? undefined : from?.parameters[key]);
  const initial = Object.fromEntries(
    job.parameters.map((parameter) => [
      parameter.key,
      kept(parameter.key) ?? parameter.default ?? (parameter.type === "boolean" ? "false" : ""),
    ]),
  );
  const [values, setValues] = useState<Record<string, string>>(initial);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      const run = await post<Run>(
        `/projects/${encodeURIComponent(job.project)}/jobs/${encodeURIComponent(job.id)}/runs`,
        { parameters: given(job, values) },
      );
      if (run) navigate(runHref(run.project, run.id));
    } catch (caught) {
      if (caught instanceof ApiError && caught.errors.length) {
        const byField: Record<string, string> = {};
        const general: string[] = [];
        for (const item of caught.errors) {
          const key = item.loc[item.loc.length - 1];
          if (item.loc.includes("parameters") && typeof key === "string" && key !== "parameters") byField[key] = item.msg;
          else general.push(item.msg);
        }
        setFieldErrors(byField);
        setError(general.length ? general.join("; ") : Object.keys(byField).length ? null : caught);
      } else setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card stack" onSubmit={submit} aria-label="Trigger a run" noValidate>
      <h2>Run {job.display_name || job.id}</h2>
      {from ? (
        <p class="muted">
          Filled with the parameters of run <a href={runHref(from.project, from.id)} title={from.id}>#{shortId(from.id)}</a>.
        </p>
      ) : null}
      {job.parameters.map((parameter) => {
        const id = `parameter-${parameter.key}`;
        const problem = fieldErrors[parameter.key];
        return (
          <label key={parameter.key} for={id}>
            <span>
              {parameter.key}
              {parameter.required ? <abbr title="required"> *</abbr> : null}
              {parameter.description ? <span class="muted"> — {parameter.description}</span> : null}
            </span>
            <ParameterControl id={id} parameter={parameter} value={values[parameter.key] ?? ""} problem={problem}
              onValue={(value) => setValues({ ...values, [parameter.key]: value })} />
            {problem ? (
              <span id={`${id}-error`} class="error field-error" role="alert">
                {problem}
              </span>
            ) : null}
          </label>
        );
      })}
      {job.parameters.length ? null : <p class="muted">This job takes no parameters.</p>}
      <div>
        <button type="submit" class="primary" disabled={busy || !job.is_enabled}>
          Run
        </button>
        {job.is_enabled ? null : <span class="muted"> the job is disabled</span>}
      </div>
      {error ? <p class="error" role="alert">{message(error)}</p> : null}
    </form>
  );
}

export function JobPage({ project, job: jobId, from }: { project: string; job: string; from?: string }) {
  const base = `/projects/${encodeURIComponent(project)}`;
  const job = useLoad((signal) => get<Job>(`${base}/jobs/${encodeURIComponent(jobId)}`, signal), [project, jobId]);
  const source = useLoad(
    (signal) => (from ? get<Run>(`${base}/runs/${encodeURIComponent(from)}`, signal) : Promise.resolve(null)),
    [project, from],
  );
  const runs = useLoad(
    (signal) => get<Page<Run>>(`${base}/runs?job=${encodeURIComponent(jobId)}&limit=10`, signal),
    [project, jobId],
    latestPage,
  );
  useRunEvents(
    (run) => {
      if (run.project !== project || run.job !== jobId) return;
      runs.setData((old) => {
        if (!old) return old;
        const items = old.items.some((item) => item.id === run.id)
          ? old.items.map((item) => (item.id === run.id ? latest(item, run) : item))
          : [run, ...old.items].slice(0, 10);
        return { ...old, items };
      });
    },
    [project, jobId],
  );
  const toggle = async () => {
    const current = job.data;
    if (!current) return;
    const updated = await post<Job>(`${base}/jobs/${encodeURIComponent(jobId)}/${current.is_enabled ? "disable" : "enable"}`);
    if (updated) job.setData(updated);
  };
  const data = job.data;
  const mayTrigger = useCan(project, "trigger");
  const mayOperate = useCan(project, "operate");
  return (
    <>
      <Crumbs project={project}>
        {" / "}
        <a href={href(["projects", project], {})}>jobs</a>
      </Crumbs>
      <h1>{data?.display_name || jobId}</h1>
      <ErrorNote error={job.error} />
      <ErrorNote error={source.error} />
      {data ? (
        <>
          {data.description ? <p>{data.description}</p> : null}
          <p>
            {mayOperate ? (
              <>
                <ActionButton action={toggle}>{data.is_enabled ? "Disable job" : "Enable job"}</ActionButton>{" "}
              </>
            ) : null}
            <a href={href(["projects", project, "runs"], { job: jobId })}>All runs of this job</a>
          </p>
          {mayTrigger && (!from || source.data || source.error) ? (
            <TriggerForm job={data} from={source.data ?? undefined} key={`${data.project}/${data.id}/${source.data?.id ?? ""}`} />
          ) : null}
          {data.definition.type === "pipeline" ? (
            <section class="card">
              <h2>Pipeline</h2>
              <Graph project={project} elements={data.definition.elements} runs={[]} />
            </section>
          ) : null}
        </>
      ) : null}
      <section class="card">
        <h2>Last runs</h2>
        <ErrorNote error={runs.error} />
        <ul class="runs-mini">
          {(runs.data?.items ?? []).map((run) => (
            <li key={run.id} data-run={run.id}>
              <a href={runHref(project, run.id)} title={run.id}>#{shortId(run.id)}</a> <StatusBadge status={run.status} />{" "}
              <span class="muted">{formatTime(run.created_at)}</span>
            </li>
          ))}
        </ul>
        {runs.data && !runs.data.items.length ? <p class="muted">No runs yet.</p> : null}
      </section>
    </>
  );
}
