// A run: status, timings, worker, parameters, results, steps (one section per command), graph
// (pipelines) and live log.
import { useCan } from "../access";
import { download, get, post } from "../api";
import { Graph } from "../Graph";
import { LogView } from "../LogView";
import { Steps } from "../Steps";
import { useRunEvents } from "../live";
import { FINAL, latest, latestRuns, type Job, type Page, type Run } from "../types";
import {
  ActionButton, Crumbs, ErrorNote, KeyValues, StatusBadge, formatDuration, formatTime, href, navigate, runHref,
  shortId, useLoad,
} from "../util";

function Results({ results }: { results: Record<string, unknown> }) {
  const entries = Object.entries(results);
  if (!entries.length) return <p class="muted">No results.</p>;
  return (
    <table class="kv results">
      <thead>
        <tr>
          <th>Key</th>
          <th>Value</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>
              <code>{typeof value === "string" ? value : JSON.stringify(value)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type Artifact = { path: string; size: number; sha256: string };

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

// The files the run kept (`definition.artifacts`): listed once the run ended, each downloaded
// through the api (with the session's credentials), never opened as a page.
function Artifacts({ base, run }: { base: string; run: Run }) {
  const ended = FINAL.has(run.status);
  const artifacts = useLoad(
    (signal) => (ended ? get<{ items: Artifact[] }>(`${base}/artifacts`, signal) : Promise.resolve({ items: [] })),
    [base, ended],
  );
  const items = artifacts.data?.items ?? [];
  if (!items.length && !artifacts.error) return null;
  return (
    <section class="card artifacts">
      <h2>Artifacts</h2>
      <ErrorNote error={artifacts.error} />
      <table class="kv">
        <tbody>
          {items.map((item) => (
            <tr key={item.path} data-artifact={item.path}>
              <th scope="row">
                <ActionButton
                  class="link"
                  action={() =>
                    download(
                      `${base}/artifacts/${item.path.split("/").map(encodeURIComponent).join("/")}`,
                      item.path.split("/").pop() ?? item.path,
                    )
                  }
                >
                  {item.path}
                </ActionButton>
              </th>
              <td>{formatSize(item.size)}</td>
              <td>
                <code title={`SHA-256 ${item.sha256}`}>{item.sha256.slice(0, 12)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function PipelineGraph({ run, job }: { run: Run; job: Job }) {
  const base = `/projects/${encodeURIComponent(run.project)}/runs`;
  const children = useLoad(async (signal) => {
    const page = await get<Page<Run>>(`${base}?source=pipeline&limit=500`, signal);
    return page.items.filter((child) => child.source.run === run.id);
  }, [run.id], latestRuns);
  useRunEvents(
    (child) => {
      if (child.project !== run.project || child.source.run !== run.id) return;
      children.setData((old) => [
        ...(old ?? []).filter((item) => item.id !== child.id),
        latest(old?.find((item) => item.id === child.id) ?? null, child),
      ]);
    },
    [run.id],
  );
  if (job.definition.type !== "pipeline") return null;
  return (
    <section class="card">
      <h2>Pipeline</h2>
      <Graph project={run.project} elements={job.definition.elements} runs={children.data ?? []} />
      {children.data && !children.data.length ? (
        <p class="muted">No child runs yet: the graph shows the job's definition.</p>
      ) : null}
    </section>
  );
}

export function RunPage({ project, run: runId }: { project: string; run: string }) {
  const base = `/projects/${encodeURIComponent(project)}/runs/${encodeURIComponent(runId)}`;
  const run = useLoad((signal) => get<Run>(base, signal), [project, runId], latest);
  // The page is keyed by project and run (main.tsx), so `data` is always this run's: the job
  // loaded is never the previous run's.
  const data = run.data;
  const job = useLoad(
    (signal) =>
      data ? get<Job>(`/projects/${encodeURIComponent(project)}/jobs/${encodeURIComponent(data.job)}`, signal) : Promise.resolve(null),
    [project, data?.job],
  );
  const pipeline = job.data?.definition.type === "pipeline";
  useRunEvents(
    (changed) => {
      if (changed.project === project && changed.id === runId) run.setData((shown) => latest(shown, changed));
    },
    [project, runId],
  );
  const mayOperate = useCan(project, "operate");
  const mayTrigger = useCan(project, "trigger");
  const act = async (what: "cancel" | "abort") => {
    const updated = await post<Run>(`${base}/${what}`);
    if (updated) run.setData((shown) => latest(shown, updated));
  };
  const rerun = async () => {
    const again = await post<Run>(`${base}/rerun`);
    if (again) navigate(runHref(again.project, again.id));
  };
  return (
    <>
      <Crumbs project={project}>
        {" / "}
        <a href={href(["projects", project, "runs"])}>runs</a>
        {data ? (
          <>
            {" / "}
            <a href={href(["projects", project, "runs"], { job: data.job })}>{job.data?.display_name || data.job}</a>
          </>
        ) : null}
      </Crumbs>
      <ErrorNote error={run.error} />
      {data ? (
        <>
          <h1>
            {job.data?.display_name || data.job} <span class="muted" title={data.id}>#{shortId(data.id)}</span>{" "}
            <StatusBadge status={data.status} />
          </h1>
          {data.status === "pending" && data.waiting_reason ? (
            <p class="note waiting" role="status">
              Waiting: {data.waiting_reason}
            </p>
          ) : null}
          {data.reason ? <p class="note">{data.reason}</p> : null}
          <div class="toolbar">
            {mayOperate && data.status === "pending" ? <ActionButton action={() => act("cancel")}>Cancel</ActionButton> : null}
            {mayOperate && data.status === "running" ? (
              <ActionButton action={() => act("abort")} class="danger">
                Abort
              </ActionButton>
            ) : null}
            <ActionButton action={() => download(`${base}/archive`, `${project}-${runId}.tar.gz`)}>
              Download archive
            </ActionButton>
            {mayTrigger ? <ActionButton action={rerun}>Run again</ActionButton> : null}
            {mayTrigger ? <a href={href(["projects", project, "jobs", data.job], { from: data.id })}>Edit and run…</a> : null}
          </div>
          <div class="grid">
            <section class="card">
              <h2>Timings</h2>
              <table class="kv">
                <tbody>
                  <tr><th scope="row">id</th><td><code>{data.id}</code></td></tr>
                  <tr><th scope="row">created</th><td>{formatTime(data.created_at)}</td></tr>
                  <tr><th scope="row">assigned</th><td>{formatTime(data.assigned_at)}</td></tr>
                  <tr><th scope="row">started</th><td>{formatTime(data.started_at)}</td></tr>
                  <tr><th scope="row">completed</th><td>{formatTime(data.completed_at)}</td></tr>
                  <tr><th scope="row">duration</th><td>{formatDuration(data.started_at, data.completed_at)}</td></tr>
                  <tr><th scope="row">worker</th><td data-field="worker">{data.worker ?? "—"}</td></tr>
                  {data.priority ? (
                    <tr><th scope="row">priority</th><td data-field="priority">{data.priority}</td></tr>
                  ) : null}
                  {data.concurrency_key ? (
                    <tr>
                      <th scope="row">concurrency key</th>
                      <td data-field="concurrency-key"><code>{data.concurrency_key}</code></td>
                    </tr>
                  ) : null}
                  {data.image ? (
                    <tr>
                      <th scope="row">image</th>
                      <td data-field="image">
                        <code>{data.image}</code>
                        {data.image_digest ? <div class="muted"><code data-field="image-digest">{data.image_digest}</code></div> : null}
                      </td>
                    </tr>
                  ) : null}
                  {(data.attempt ?? 1) > 1 || data.retry || data.retried_by ? (
                    <tr>
                      <th scope="row">attempt</th>
                      <td data-field="attempt">
                        {data.attempt ?? 1}
                        {data.retry ? ` of ${data.retry.attempts}` : ""}
                        {data.retried_by ? (
                          <>
                            , retried by{" "}
                            <a href={runHref(project, data.retried_by)} title={data.retried_by}>#{shortId(data.retried_by)}</a>
                          </>
                        ) : null}
                        {data.status === "pending" && data.not_before ? ` (not before ${formatTime(data.not_before)})` : ""}
                      </td>
                    </tr>
                  ) : null}
                  <tr>
                    <th scope="row">source</th>
                    <td>
                      {data.source.type}
                      {data.source.user ? ` by ${data.source.user}` : ""}
                      {data.source.schedule ? ` (schedule ${data.source.schedule})` : ""}
                      {data.source.run ? (
                        <>
                          {" "}of <a href={runHref(project, data.source.run)} title={data.source.run}>#{shortId(data.source.run)}</a>
                          {data.source.element ? ` (${data.source.element})` : ""}
                        </>
                      ) : null}
                    </td>
                  </tr>
                </tbody>
              </table>
            </section>
            <section class="card">
              <h2>Parameters</h2>
              <KeyValues values={data.parameters} />
              <h2>Results</h2>
              <Results results={data.results} />
            </section>
          </div>
          {job.data && pipeline ? <PipelineGraph run={data} job={job.data} /> : null}
          <Artifacts base={base} run={data} />
          {/* A pipeline runs no commands of its own: its logs are its children's. The log waits
              for the job, so that a pipeline never flashes an empty one. */}
          {!pipeline ? <Steps run={data} /> : null}
          {(job.data || job.error) && !pipeline ? (
            <LogView project={project} run={runId} key={runId} onEnd={() => !FINAL.has(data.status) && run.reload()} />
          ) : null}
        </>
      ) : null}
    </>
  );
}

export function RunLogPage({ project, run, line }: { project: string; run: string; line?: number }) {
  return (
    <>
      <Crumbs project={project}>
        {" / "}
        <a href={runHref(project, run)}>run #{shortId(run)}</a> / log
      </Crumbs>
      <LogView project={project} run={run} line={line} full key={`${run}:${line}`} />
    </>
  );
}
