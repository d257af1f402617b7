// The api client: the session cookie, JSON helpers, problem+json errors, downloads.
//
// Login sets an HttpOnly, SameSite=Strict session cookie (scripts never see the token, and a new
// tab of the same browser is logged in). Every request sends `X-Podium-Session: 1`, which the
// api requires of cookie-authenticated changes: other sites cannot add it (CSRF guard).

export const API = "/api/v1";

export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

/** An error answer of the api (RFC 9457 problem), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(
    public status: number,
    public title: string,
    public detail: string,
    public errors: FieldError[] = [],
  ) {
    super(detail || title);
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when the api answers 401: the session expired or was revoked. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The headers of every request to the api (the session cookie goes by itself). */
export function sessionHeaders(): Record<string, string> {
  return { "X-Podium-Session": "1" };
}

async function problem(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = await response.json();
  } catch {
    // not JSON: keep the status text
  }
  const errors = Array.isArray(body.errors) ? (body.errors as FieldError[]) : [];
  const title = typeof body.title === "string" ? body.title : response.statusText;
  const detail = typeof body.detail === "string" ? body.detail : "";
  if (response.status === 401) unauthorizedListeners.forEach((listener) => listener());
  return new ApiError(response.status, title, detail, errors);
}

/** Send a request to `/api/v1{path}`; the raw response when it is a success. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { ...sessionHeaders(), ...(init.headers as Record<string, string>) };
  if (init.body !== undefined && typeof init.body === "string") headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(API + path, { ...init, headers });
  } catch (error) {
    throw new ApiError(0, "Network error", String(error));
  }
  if (!response.ok) throw await problem(response);
  return response;
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request(path, { signal })).json() as Promise<T>;
}

export async function post<T>(path: string, body?: unknown): Promise<T | null> {
  const response = await request(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });
  return response.status === 204 ? null : ((await response.json()) as T);
}

export async function patch<T>(path: string, body: unknown): Promise<T> {
  return (await request(path, { method: "PATCH", body: JSON.stringify(body) })).json() as Promise<T>;
}

export async function del(path: string): Promise<void> {
  await request(path, { method: "DELETE" });
}

/** Query string from the non-empty values (lists repeat the key). */
export function query(params: Record<string, string | string[] | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Fetch and save the answer as a file (named as the page wants, with the api's problems shown). */
export async function download(path: string, filename: string): Promise<void> {
  const blob = await (await request(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function message(error: unknown): string {
  if (error instanceof ApiError) return error.detail ? `${error.title}: ${error.detail}` : error.title;
  return String(error);
}
