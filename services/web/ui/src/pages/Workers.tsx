// The fleet: status, properties, current runs; enable, disable, disconnect.
import { get, post } from "../api";
import { useRunEvents, useWorkerEvents } from "../live";
import { useAccess } from "../access";
import type { Page, Project, Run, Worker } from "../types";
import { ActionButton, ErrorNote, StatusBadge, formatTime, runHref, shortId, useLoad } from "../util";

export function Workers() {
  const workers = useLoad((signal) => get<Worker[]>("/workers", signal), []);
  const running = useLoad(async (signal) => {
    const projects = await get<Project[]>("/projects", signal);
    const pages = await Promise.all(
      projects.map((project) =>
        get<Page<Run>>(`/projects/${encodeURIComponent(project.id)}/runs?status=running&limit=500`, signal),
      ),
    );
    return pages.flatMap((page) => page.items);
  }, []);
  useWorkerEvents((worker) =>
    workers.setData((old) => {
      const list = old ?? [];
      return list.some((item) => item.id === worker.id)
        ? list.map((item) => (item.id === worker.id ? worker : item))
        : [...list, worker].sort((a, b) => a.id.localeCompare(b.id));
    }),
  );
  useRunEvents((run) =>
    running.setData((old) => [...(old ?? []).filter((item) => item.id !== run.id), ...(run.status === "running" ? [run] : [])]),
  );
  const act = async (worker: Worker, what: "enable" | "disable" | "disconnect") => {
    const updated = await post<Worker>(`/workers/${encodeURIComponent(worker.id)}/${what}`);
    if (updated) workers.setData((old) => old?.map((item) => (item.id === updated.id ? updated : item)) ?? null);
  };
  const admin = useAccess().permissions.includes("operate");
  return (
    <>
      <h1>Workers</h1>
      <ErrorNote error={workers.error} />
      {workers.data && !workers.data.length ? <p class="muted">No worker has connected yet.</p> : null}
      <div class="cards">
        {(workers.data ?? []).map((worker) => {
          const runs = (running.data ?? []).filter((run) => run.worker === worker.id);
          const state = worker.is_active ? "active" : "inactive";
          return (
            <section class="card worker" key={worker.id} data-worker={worker.id} data-state={state} aria-label={`Worker ${worker.id}`}>
              <h2>
                {worker.display_name || worker.id} <span class={`badge worker-${state}`}>{state}</span>
                {worker.is_enabled ? null : <span class="badge worker-disabled">disabled</span>}
              </h2>
              <p class="muted">
                owner {worker.owner} · version {worker.version || "?"} · {worker.executor_limit} executors · last seen{" "}
                {formatTime(worker.last_seen)}
                {worker.master ? ` · master ${worker.master}` : null}
              </p>
              <h3>Properties</h3>
              {Object.keys(worker.properties).length ? (
                <ul class="tags">
                  {Object.entries(worker.properties).map(([key, value]) => (
                    <li key={key}>
                      <code>
                        {key}={value}
                      </code>
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">none</p>
              )}
              <h3>Running</h3>
              {runs.length ? (
                <ul>
                  {runs.map((run) => (
                    <li key={run.id}>
                      <a href={runHref(run.project, run.id)}>
                        {run.project}/{run.job} #{shortId(run.id)}
                      </a>{" "}
                      <StatusBadge status={run.status} />
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">nothing</p>
              )}
              {admin ? (
                <div class="toolbar">
                  <ActionButton action={() => act(worker, worker.is_enabled ? "disable" : "enable")}>
                    {worker.is_enabled ? "Disable" : "Enable"}
                  </ActionButton>
                  <ActionButton action={() => act(worker, "disconnect")} disabled={!worker.is_active}>
                    Disconnect
                  </ActionButton>
                </div>
              ) : null}
            </section>
          );
        })}
      </div>
    </>
  );
}
