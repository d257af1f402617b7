// A project: its jobs and its schedules.
import { useCan } from "../access";
import { get, post } from "../api";
import type { Job, Project, Schedule } from "../types";
import { ActionButton, ErrorNote, formatTime, href, useLoad } from "../util";

/** When the master fires a schedule next, as the api answers it (null: an enabled one never fires). */
function NextFire({ schedule }: { schedule: Schedule }) {
  if (!schedule.is_enabled) return <>—</>;
  const next = schedule.next_fire_at;
  if (next) return <>{formatTime(next)}</>;
  return (
    <span class="error" data-invalid="true">
      invalid cron expression: never fires
    </span>
  );
}

function Schedules({ project }: { project: string }) {
  const base = `/projects/${encodeURIComponent(project)}/schedules`;
  const schedules = useLoad((signal) => get<Schedule[]>(base, signal), [project]);
  const mayOperate = useCan(project, "operate");
  const toggle = async (schedule: Schedule) => {
    const updated = await post<Schedule>(`${base}/${encodeURIComponent(schedule.id)}/${schedule.is_enabled ? "disable" : "enable"}`);
    if (updated) schedules.setData((old) => old?.map((item) => (item.id === updated.id ? updated : item)) ?? null);
  };
  return (
    <section class="card" aria-labelledby="schedules">
      <h2 id="schedules">Schedules</h2>
      <ErrorNote error={schedules.error} />
      {schedules.data && !schedules.data.length ? <p class="muted">No schedules.</p> : null}
      {schedules.data?.length ? (
        <table class="list">
          <thead>
            <tr>
              <th>Schedule</th>
              <th>Job</th>
              <th>Cron (UTC)</th>
              <th class="wide">Next fire</th>
              <th class="wide">Last fired</th>
              <th>Enabled</th>
            </tr>
          </thead>
          <tbody>
            {schedules.data.map((schedule) => (
              <tr key={schedule.id} data-schedule={schedule.id}>
                <td>{schedule.display_name || schedule.id}</td>
                <td>
                  <a href={href(["projects", project, "jobs", schedule.job])}>{schedule.job}</a>
                </td>
                <td>
                  <code>{schedule.expression}</code>
                </td>
                <td class="wide" data-field="next">
                  <NextFire schedule={schedule} />
                </td>
                <td class="wide">
                  {schedule.last_run ? (
                    <a href={href(["projects", project, "runs", schedule.last_run])}>{formatTime(schedule.last_fired_at)}</a>
                  ) : (
                    formatTime(schedule.last_fired_at)
                  )}
                </td>
                <td>
                  {mayOperate ? (
                    <ActionButton action={() => toggle(schedule)}>{schedule.is_enabled ? "Disable" : "Enable"}</ActionButton>
                  ) : (
                    schedule.is_enabled ? "yes" : "no"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function ProjectPage({ project }: { project: string }) {
  const info = useLoad((signal) => get<Project>(`/projects/${encodeURIComponent(project)}`, signal), [project]);
  const jobs = useLoad((signal) => get<Job[]>(`/projects/${encodeURIComponent(project)}/jobs`, signal), [project]);
  return (
    <>
      <h1>{info.data?.display_name || project}</h1>
      <p>
        <a href={href(["projects", project, "runs"])}>Runs of this project</a> ·{" "}
        <a href={href(["projects", project, "secrets"])}>Secrets</a>
      </p>
      <ErrorNote error={info.error || jobs.error} />
      <section class="card" aria-labelledby="jobs">
        <h2 id="jobs">Jobs</h2>
        <table class="list">
          <thead>
            <tr>
              <th>Job</th>
              <th>Type</th>
              <th class="wide">Description</th>
              <th>Enabled</th>
            </tr>
          </thead>
          <tbody>
            {(jobs.data ?? []).map((job) => (
              <tr key={job.id} data-job={job.id}>
                <td>
                  <a href={href(["projects", project, "jobs", job.id])}>{job.display_name || job.id}</a>
                </td>
                <td>{job.definition.type}</td>
                <td class="wide">{job.description}</td>
                <td>{job.is_enabled ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <Schedules project={project} />
    </>
  );
}
