// The live feed: one `/api/v1/events` stream for the whole page, fanned out to the pages.
import { useEffect, useState } from "preact/hooks";
import { openStream } from "./sse";
import type { Run, Worker } from "./types";

type RunListener = (run: Run) => void;
type WorkerListener = (worker: Worker) => void;

const runListeners = new Set<RunListener>();
const workerListeners = new Set<WorkerListener>();
const stateListeners = new Set<(connected: boolean) => void>();
let close: (() => void) | null = null;
let retry: ReturnType<typeof setTimeout> | null = null;
let connected = false;
let failures = 0;

function setConnected(value: boolean): void {
  connected = value;
  stateListeners.forEach((listener) => listener(value));
}

/** Start following `/api/v1/events` (reconnects with a growing delay when it breaks). */
export function startLive(): void {
  if (close) return;
  const reconnect = () => {
    close = null;
    setConnected(false);
    failures += 1;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
    retry = setTimeout(startLive, delay);
  };
  close = openStream("/events", {
    onEvent: (event) => {
      if (!connected) setConnected(true);
      failures = 0;
      try {
        if (event.event === "run") {
          const run = JSON.parse(event.data) as Run;
          runListeners.forEach((listener) => listener(run));
        } else if (event.event === "worker") {
          const worker = JSON.parse(event.data) as Worker;
          workerListeners.forEach((listener) => listener(worker));
        }
      } catch {
        // a malformed event: ignore it
      }
    },
    onEnd: reconnect,
    onError: (status) => (status === 401 ? stopLive() : reconnect()),
  });
  setConnected(true);
}

export function stopLive(): void {
  if (retry) clearTimeout(retry);
  retry = null;
  close?.();
  close = null;
  setConnected(false);
}

/** Call `listener` with every changed run while the component is mounted. */
export function useRunEvents(listener: RunListener, deps: unknown[] = []): void {
  useEffect(() => {
    runListeners.add(listener);
    return () => void runListeners.delete(listener);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

/** Call `listener` with every changed worker while the component is mounted. */
export function useWorkerEvents(listener: WorkerListener, deps: unknown[] = []): void {
  useEffect(() => {
    workerListeners.add(listener);
    return () => void workerListeners.delete(listener);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

/** Whether the live feed is connected. */
export function useLiveState(): boolean {
  const [state, setState] = useState(connected);
  useEffect(() => {
    stateListeners.add(setState);
    return () => void stateListeners.delete(setState);
  }, []);
  return state;
}
