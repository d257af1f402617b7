// The dashboard: per project, each job with its last run, kept live.
import { get } from "../api";
import { useRunEvents } from "../live";
import { lastRun, type Job, type Page, type Project, type Run } from "../types";
import { ErrorNote, StatusBadge, formatDuration, formatTime, href, runHref, shortId, useLoad } from "../util";

interface Row {
  job: Job;
  last: Run | null;
}

/** The loaded rows, each keeping a last run pushed while the load was on its way. */
function mergeRows(shown: Row[] | null, loaded: Row[]): Row[] {
  const last = new Map((shown ?? []).map((row) => [row.job.id, row.last]));
  return loaded.map((row) => ({ ...row, last: lastRun(last.get(row.job.id) ?? null, row.last) }));
}

function ProjectCard({ project }: { project: Project }) {
  const rows = useLoad(async (signal) => {
    const jobs = await get<Job[]>(`/projects/${encodeURIComponent(project.id)}/jobs`, signal);
    return Promise.all(
      jobs.map(async (job): Promise<Row> => {
        const page = await get<Page<Run>>(
          `/projects/${encodeURIComponent(project.id)}/runs?job=${encodeURIComponent(job.id)}&limit=1`,
          signal,
        );
        return { job, last: page.items[0] ?? null };
      }),
    );
  }, [project.id], mergeRows);
  useRunEvents(
    (run) => {
      if (run.project !== project.id) return;
      rows.setData((old) =>
        old
          ? old.map((row) => (row.job.id === run.job ? { ...row, last: lastRun(row.last, run) } : row))
          : old,
      );
    },
    [project.id],
  );
  return (
    <section class="card" aria-labelledby={`project-${project.id}`}>
      <h2 id={`project-${project.id}`}>
        <a href={href(["projects", project.id])}>{project.display_name || project.id}</a>
        <a class="small" href={href(["projects", project.id, "runs"])}>
          all runs
        </a>
      </h2>
      <ErrorNote error={rows.error} />
      <table class="list">
        <thead>
          <tr>
            <th>Job</th>
            <th>Last run</th>
            <th>Status</th>
            <th class="wide">Started</th>
            <th class="wide">Duration</th>
          </tr>
        </thead>
        <tbody>
          {(rows.data ?? []).map(({ job, last }) => (
            <tr key={job.id} data-job={job.id}>
              <td>
                <a href={href(["projects", project.id, "jobs", job.id])}>{job.display_name || job.id}</a>
                {job.is_enabled ? null : <span class="muted"> (disabled)</span>}
              </td>
              <td>{last ? <a href={runHref(project.id, last.id)} title={last.id}>#{shortId(last.id)}</a> : <span class="muted">never run</span>}</td>
              <td>{last ? <StatusBadge status={last.status} /> : null}</td>
              <td class="wide">{formatTime(last?.started_at)}</td>
              <td class="wide">{last ? formatDuration(last.started_at, last.completed_at) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Dashboard() {
  const projects = useLoad((signal) => get<Project[]>("/projects", signal), []);
  return (
    <>
      <h1>Dashboard</h1>
      <ErrorNote error={projects.error} />
      {projects.data && !projects.data.length ? <p class="muted">No projects yet: apply a configuration.</p> : null}
      {(projects.data ?? []).map((project) => (
        <ProjectCard key={project.id} project={project} />
      ))}
    </>
  );
}
