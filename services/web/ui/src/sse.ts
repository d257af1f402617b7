// Server-sent events over fetch: it gives the status of a refused stream, which EventSource hides.
import { API, sessionHeaders } from "./api";

export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

export interface SseOptions {
  onEvent: (event: SseEvent) => void;
  /** The stream ended normally (the server closed it). */
  onEnd?: () => void;
  /** The stream broke or could not be opened; `status` is the HTTP status or 0. */
  onError?: (status: number) => void;
}

/** Open `/api/v1{path}` as an event stream; call the returned function to close it. */
export function openStream(path: string, options: SseOptions): () => void {
  const controller = new AbortController();
  void (async () => {
    try {
      const response = await fetch(API + path, {
        headers: { ...sessionHeaders(), Accept: "text/event-stream" },
        signal: controller.signal,
        cache: "no-store",
      });
      if (!response.ok || !response.body) {
        options.onError?.(response.status);
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + (buffer[end] === "\r" ? 4 : 2));
          const parsed = parse(block);
          if (parsed) options.onEvent(parsed);
        }
      }
      options.onEnd?.();
    } catch {
      if (!controller.signal.aborted) options.onError?.(0);
    }
  })();
  return () => controller.abort();
}

function parse(block: string): SseEvent | null {
  let event = "message";
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  return data.length || event !== "message" ? { event, id, data: data.join("\n") } : null;
}
