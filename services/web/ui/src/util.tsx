// Small shared pieces: hash routing, formatting, status badges, data loading.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { get, message } from "./api";
import type { Job, Project } from "./types";

export interface Route {
  path: string[];
  params: URLSearchParams;
}

function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?", 2);
  return { path: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(search) };
}

/** The route in the location hash, updated on navigation. */
export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

/** `#/a/b?k=v` for the parts (escaped) and the non-empty parameters. */
export function href(parts: string[], params: Record<string, string | null | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${text ? `?${text}` : ""}`;
}

export function navigate(target: string, replace = false): void {
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

/**
 * A run id short enough for lists: the last 8 characters. Ids are UUIDv7, whose first 12 hex
 * digits are the creation millisecond (a pipeline and its children share them) and whose tail is
 * random, so the tail tells runs apart. The CLI accepts this tail as well as a unique prefix.
 */
export const shortId = (id: string) => (id.length > 8 ? id.slice(-8) : id);

export const runHref = (project: string, run: string) => href(["projects", project, "runs", run]);

export function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  return isNaN(date.getTime()) ? value : date.toLocaleString();
}

export function formatDuration(start: string | null, end: string | null): string {
  if (!start) return "—";
  const ms = (end ? new Date(end).getTime() : Date.now()) - new Date(start).getTime();
  if (ms < 0) return "—";
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge status-${status}`} data-status={status}>
      {status}
    </span>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {message(error)}
    </p>
  );
}

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: T | ((old: T | null) => T | null)) => void;
}

/**
 * Load `fn()` now and whenever `deps` change.
 *
 * `merge` combines what is shown with what was loaded (default: take the load). Live pages pass
 * one, as an event pushed while the load was on its way can be newer than the load's answer.
 */
export function useLoad<T>(
  fn: (signal: AbortSignal) => Promise<T>,
  deps: unknown[],
  merge?: (shown: T | null, loaded: T) => T,
): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    fn(controller.signal)
      .then((value) => {
        if (controller.signal.aborted) return;
        setData(merge ? (shown: T | null) => merge(shown, value) : value);
        setError(null);
      })
      .catch((caught) => !controller.signal.aborted && setError(caught))
      .finally(() => !controller.signal.aborted && setLoading(false));
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { data, error, loading, reload, setData: setData as Loaded<T>["setData"] };
}

/** A button that runs an async action, disabled meanwhile, showing its error. */
export function ActionButton(props: {
  action: () => Promise<unknown>;
  children: ComponentChildren;
  class?: string;
  disabled?: boolean;
  title?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const click = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.action();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={props.class} disabled={busy || props.disabled} onClick={click} title={props.title}>
        {props.children}
      </button>
      {error ? (
        <span class="error" role="alert">
          {message(error)}
        </span>
      ) : null}
    </span>
  );
}

/**
 * A button for an action that cannot be undone: the first click asks (the button turns into
 * "confirm"), the second does it; leaving the button takes the question back. No dialog box.
 */
export function ConfirmButton(props: {
  action: () => Promise<unknown>;
  children: ComponentChildren;
  confirm: string;
  class?: string;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" class={props.class} onClick={() => setAsking(true)}>
        {props.children}
      </button>
    );
  return (
    <span class="action" onMouseLeave={() => setAsking(false)}>
      <ActionButton action={props.action} class={props.class}>
        {props.confirm}?
      </ActionButton>
      <button type="button" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  );
}

export function KeyValues({ values, empty = "none" }: { values: Record<string, unknown>; empty?: string }) {
  const entries = Object.entries(values);
  if (!entries.length) return <p class="muted">{empty}</p>;
  return (
    <table class="kv">
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>{typeof value === "string" ? value : JSON.stringify(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const names = new Map<string, Promise<string>>();

/** The display name of a project or job (`path` under /projects), its id until it is known. */
export function useDisplayName(path: string[], fallback: string): string {
  const key = path.map(encodeURIComponent).join("/");
  const [name, setName] = useState(fallback);
  useEffect(() => {
    let known = names.get(key);
    if (!known) {
      known = get<Project | Job>(`/projects/${key}`)
        .then((found) => found.display_name || fallback)
        .catch(() => {
          names.delete(key); // asked again later: the entity may appear, or the error pass
          return fallback;
        });
      names.set(key, known);
    }
    let current = true;
    void known.then((value) => current && setName(value));
    return () => {
      current = false;
    };
  }, [key]);
  return name;
}

/** The path above a page: links to the project, then the pieces given. */
export function Crumbs({ project, children }: { project: string; children?: ComponentChildren }) {
  const projectName = useDisplayName([project], project);
  return (
    <nav class="crumbs" aria-label="Breadcrumbs">
      <a href={href(["projects", project])}>{projectName}</a>
      {children}
    </nav>
  );
}
