// What the logged-in user may do: `/api/v1/me/access`, asked after login and again whenever the
// live feed (re)connects, as grants may have changed meanwhile. Pages show an action only when
// it is allowed; the api decides anyway (a hidden button is a courtesy, not the guard).
import { useEffect, useState } from "preact/hooks";
import { get } from "./api";

export type ProjectPermission = "read" | "trigger" | "operate" | "maintain";

/** The answer of `/me/access`: global permissions, and each visible project's (global roles included). */
export interface Access {
  permissions: string[];
  projects: Record<string, ProjectPermission[]>;
}

const NOTHING: Access = { permissions: [], projects: {} };
const listeners = new Set<(access: Access) => void>();
let current = NOTHING;
let asked = 0;

function set(access: Access): void {
  current = access;
  listeners.forEach((listener) => listener(access));
}

/** Ask the api what the user may do now (an older answer arriving late never wins). */
export async function loadAccess(): Promise<void> {
  const mine = ++asked;
  try {
    const access = await get<Access>("/me/access");
    if (mine === asked) set(access);
  } catch {
    // keep what we know: a 401 logs out by itself, anything else is retried on reconnection
  }
}

/** Forget it (logout): the next user starts with nothing allowed until the api says otherwise. */
export function clearAccess(): void {
  asked += 1;
  set(NOTHING);
}

/** What the user may do, updated when it is asked again. */
export function useAccess(): Access {
  const [access, setAccess] = useState(current);
  useEffect(() => {
    listeners.add(setAccess);
    setAccess(current);
    return () => void listeners.delete(setAccess);
  }, []);
  return access;
}

/** Whether the user may do `permission` in `project`. */
export function useCan(project: string, permission: ProjectPermission): boolean {
  return useAccess().projects[project]?.includes(permission) ?? false;
}
