// Wire shapes of the api (podium_model), as far as the UI reads them.

export type RunStatus = "pending" | "running" | "succeeded" | "failed" | "aborted" | "exception" | "cancelled";
export const RUN_STATUSES: RunStatus[] = ["pending", "running", "succeeded", "failed", "aborted", "exception", "cancelled"];
export const FINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "aborted", "exception", "cancelled"]);

export interface User {
  id: string;
  display_name: string;
  roles: string[];
  is_enabled: boolean;
  created_at: string;
}

export interface Project {
  id: string;
  display_name: string;
  description?: string;
}

export type ParameterType = "string" | "integer" | "number" | "boolean" | "choice";

export interface JobParameter {
  key: string;
  description: string;
  type?: ParameterType;
  default: string | null;
  required: boolean;
  choices?: string[];
  pattern?: string | null;
  secret?: boolean;
}

export interface AfterCondition {
  element: string;
  status: RunStatus[];
}

export interface PipelineElement {
  id: string;
  job: string;
  parameters: Record<string, string>;
  after: AfterCondition[];
}

export type JobDefinition =
  | { type: "job"; commands: unknown[]; timeout?: number | null }
  | { type: "pipeline"; elements: PipelineElement[] };

export interface Job {
  project: string;
  id: string;
  display_name: string;
  description: string;
  definition: JobDefinition;
  parameters: JobParameter[];
  properties: Record<string, string>;
  is_enabled: boolean;
}

export interface RunSource {
  type: string;
  user?: string | null;
  schedule?: string | null;
  run?: string | null;
  element?: string | null;
}

export interface RetryPolicy {
  attempts: number;
  on: ("failed" | "exception")[];
  delay: number;
  backoff: number;
}

export interface Run {
  project: string;
  id: string;
  job: string;
  parameters: Record<string, string>;
  source: RunSource;
  worker: string | null;
  status: RunStatus;
  reason: string | null;
  waiting_reason: string | null;
  created_at: string;
  assigned_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  results: Record<string, unknown>;
  /** A run in a container: its image, and the digest (or id) the engine had; null on a host. */
  image?: string | null;
  image_digest?: string | null;
  /** Pending runs of higher priority are dispatched first (0 unless the job or the trigger says). */
  priority?: number;
  /** The concurrency key the run holds while running (its job's `definition.concurrency`); null: no limit. */
  concurrency_key?: string | null;
  updated_at: string;
  secret_parameters?: string[];
  attempt?: number;
  not_before?: string | null;
  retried_by?: string | null;
  retry?: RetryPolicy | null;
  /** The commands run so far; null in a page of runs. */
  steps?: RunStep[] | null;
}

/** One command of a run: its argv as rendered (secrets masked), times, exit code and log offset. */
export interface RunStep {
  index: number;
  argv: string[];
  started_at: string;
  completed_at: string | null;
  exit_code: number | null;
  log_offset: number;
}

/** The newer of two versions of a run: a page's load answered late must not undo a pushed change. */
export function latest(current: Run | null, incoming: Run): Run {
  if (!current || current.id !== incoming.id) return incoming;
  return Date.parse(current.updated_at) > Date.parse(incoming.updated_at) ? current : incoming;
}

/** The run to show as a job's last one: the later created, or of two versions of one run the newer. */
export function lastRun(shown: Run | null, incoming: Run | null): Run | null {
  if (!shown || !incoming) return incoming ?? shown;
  if (shown.id === incoming.id) return latest(shown, incoming);
  return Date.parse(shown.created_at) > Date.parse(incoming.created_at) ? shown : incoming;
}

/** `loaded`, each run in its newer version: `shown`'s when a pushed change made that one newer. */
export function latestRuns(shown: Run[] | null, loaded: Run[]): Run[] {
  const byId = new Map((shown ?? []).map((run) => [run.id, run]));
  return loaded.map((run) => latest(byId.get(run.id) ?? null, run));
}

/** A page of runs, each in its newer version (see `latestRuns`). */
export function latestPage(shown: Page<Run> | null, loaded: Page<Run>): Page<Run> {
  return { ...loaded, items: latestRuns(shown?.items ?? null, loaded.items) };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Worker {
  id: string;
  owner: string;
  display_name: string;
  version: string;
  properties: Record<string, string>;
  executor_limit: number;
  is_enabled: boolean;
  is_active: boolean;
  last_seen: string | null;
  master: string | null;
}

export interface Schedule {
  project: string;
  id: string;
  display_name: string;
  job: string;
  parameters: Record<string, string>;
  expression: string;
  is_enabled: boolean;
  last_run: string | null;
  last_fired_at: string | null;
  next_fire_at?: string | null;
}

export interface Credential {
  id: string;
  user: string;
  kind: string;
  description: string;
  expires_at: string | null;
  created_at: string;
}
