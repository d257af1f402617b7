// The runs of a project: filters in the URL, cursor pagination, live rows.
import { useState } from "preact/hooks";
import { get, query } from "../api";
import { useRunEvents } from "../live";
import { RUN_STATUSES, latest, latestPage, type Job, type Page, type Run } from "../types";
import {
  Crumbs, ErrorNote, StatusBadge, formatDuration, formatTime, href, navigate, runHref, shortId, useLoad,
} from "../util";

const FILTERS = ["job", "status", "worker", "after", "before", "limit"] as const;

function matches(run: Run, params: URLSearchParams): boolean {
  const status = params.get("status");
  const after = params.get("after");
  const before = params.get("before");
  return (
    (!params.get("job") || run.job === params.get("job")) &&
    (!status || run.status === status) &&
    (!params.get("worker") || run.worker === params.get("worker")) &&
    (!after || run.created_at >= new Date(after).toISOString()) &&
    (!before || run.created_at < new Date(before).toISOString())
  );
}

/** Who or what started a run, in a few words. */
function trigger(run: Run): string {
  if (run.source.user) return run.source.user;
  if (run.source.schedule) return `schedule ${run.source.schedule}`;
  if (run.source.element) return `pipeline (${run.source.element})`;
  return run.source.type;
}

export function Runs({ project, params }: { project: string; params: URLSearchParams }) {
  const base = `/projects/${encodeURIComponent(project)}`;
  const cursor = params.get("cursor");
  const key = params.toString();
  const jobs = useLoad((signal) => get<Job[]>(`${base}/jobs`, signal), [project]);
  const page = useLoad((signal) => {
    const after = params.get("after");
    const before = params.get("before");
    const search = query({
      job: params.get("job"),
      status: params.get("status"),
      worker: params.get("worker"),
      created_after: after ? new Date(after).toISOString() : null,
      created_before: before ? new Date(before).toISOString() : null,
      cursor,
      limit: Math.min(500, Math.max(1, Number(params.get("limit")) || 50)),
    });
    return get<Page<Run>>(`${base}/runs${search}`, signal);
  }, [project, key], latestPage);
  const [history, setHistory] = useState<string[]>([]);
  useRunEvents(
    (run) => {
      if (run.project !== project) return;
      page.setData((old) => {
        if (!old) return old;
        if (old.items.some((item) => item.id === run.id))
          return { ...old, items: old.items.map((item) => (item.id === run.id ? latest(item, run) : item)) };
        if (!cursor && matches(run, params) && (!old.items.length || run.created_at >= old.items[0].created_at))
          return { ...old, items: [run, ...old.items] };
        return old;
      });
    },
    [project, key],
  );
  const current = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""]));
  const go = (changes: Record<string, string | null>) =>
    navigate(href(["projects", project, "runs"], { ...current, cursor: null, ...changes }));
  const submit = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    setHistory([]);
    go(Object.fromEntries(FILTERS.map((name) => [name, String(form.get(name) ?? "")])));
  };
  return (
    <>
      <Crumbs project={project}> / runs</Crumbs>
      <h1>Runs</h1>
      <form class="filters" onSubmit={submit} aria-label="Filter runs" key={key}>
        <label>
          Job
          <select name="job" value={current.job}>
            <option value="">any</option>
            {(jobs.data ?? []).map((job) => (
              <option key={job.id} value={job.id}>
                {job.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status" value={current.status}>
            <option value="">any</option>
            {RUN_STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Worker
          <input name="worker" value={current.worker} size={10} />
        </label>
        <label>
          From
          <input name="after" type="datetime-local" value={current.after} />
        </label>
        <label>
          Until
          <input name="before" type="datetime-local" value={current.before} />
        </label>
        <input type="hidden" name="limit" value={current.limit} />
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={page.error} />
      <table class="list runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Job</th>
            <th>Status</th>
            <th class="wide">Trigger</th>
            <th class="wide">Worker</th>
            <th class="wide">Created</th>
            <th class="wide">Duration</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.items ?? []).map((run) => (
            <tr key={run.id} data-run={run.id}>
              <td>
                <a href={runHref(project, run.id)} title={run.id}>#{shortId(run.id)}</a>
              </td>
              <td>{run.job}</td>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td class="wide">{trigger(run)}</td>
              <td class="wide">{run.worker ?? "—"}</td>
              <td class="wide">{formatTime(run.created_at)}</td>
              <td class="wide">{formatDuration(run.started_at, run.completed_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.data && !page.data.items.length ? <p class="muted">No runs match.</p> : null}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={!cursor}
          onClick={() => {
            const previous = history.slice(0, -1);
            setHistory(previous);
            go({ cursor: history[history.length - 1] || null });
          }}>
          ← Newer
        </button>
        <button type="button" disabled={!page.data?.next_cursor}
          onClick={() => {
            setHistory([...history, cursor ?? ""]);
            go({ cursor: page.data?.next_cursor ?? null });
          }}>
          Older →
        </button>
      </nav>
    </>
  );
}
