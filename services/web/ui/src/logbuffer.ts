// A run's log held as lines: filled by byte-range reads of `/log`, then by the live stream.
import { request } from "./api";
import { openStream } from "./sse";
import { FINAL } from "./types";

const RANGE = 4 * 1024 * 1024;

export class LogBuffer {
  lines: string[] = [];
  partial = "";
  offset = 0;
  done = false;
  error: string | null = null;
  private decoder = new TextDecoder("utf-8");
  private closeStream: (() => void) | null = null;
  private stopped = false;

  constructor(
    private base: string,
    private changed: () => void,
  ) {}

  get count(): number {
    return this.lines.length + (this.partial ? 1 : 0);
  }

  line(index: number): string {
    return index < this.lines.length ? this.lines[index] : this.partial;
  }

  private append(text: string): void {
    if (!text) return;
    const pieces = (this.partial + text).split("\n");
    this.partial = pieces.pop() ?? "";
    for (const piece of pieces) this.lines.push(piece);
  }

  /** Read the log by byte ranges, then follow the stream until the run ends. */
  async start(): Promise<void> {
    let status = "";
    try {
      for (;;) {
        const response = await request(`${this.base}/log?offset=${this.offset}&limit=${RANGE}`);
        if (this.stopped) return;
        const data = new Uint8Array(await response.arrayBuffer());
        status = response.headers.get("X-Podium-Run-Status") ?? status;
        this.append(this.decoder.decode(data, { stream: true }));
        this.offset += data.length;
        this.changed();
        if (data.length < RANGE) break;
      }
    } catch (error) {
      this.error = String(error);
      this.changed();
      return;
    }
    if (FINAL.has(status)) return this.finish();
    this.follow();
  }

  private follow(): void {
    this.closeStream = openStream(`${this.base}/log/stream?offset=${this.offset}`, {
      onEvent: (event) => {
        if (event.event === "log") {
          const payload = JSON.parse(event.data) as { offset: number; data?: string; text?: string };
          const text = payload.data ?? payload.text ?? "";
          const next = event.id !== null ? Number(event.id) : this.offset + new Blob([text]).size;
          if (payload.offset >= this.offset || next > this.offset) {
            this.append(text);
            this.offset = next;
            this.changed();
          }
        } else if (event.event === "end") {
          this.closeStream = null;
          this.finish();
        }
      },
      onError: () => {
        this.error = "the live log broke off";
        this.changed();
      },
    });
  }

  private finish(): void {
    this.append(this.decoder.decode());
    this.done = true;
    this.changed();
  }

  stop(): void {
    this.stopped = true;
    this.closeStream?.();
  }

  /** Index of the next line after `from` containing `needle` (case-insensitive), wrapping; -1 if none. */
  find(needle: string, from: number, plain: (line: string) => string): number {
    const wanted = needle.toLowerCase();
    const count = this.count;
    for (let step = 1; step <= count; step++) {
      const index = (from + step) % count;
      if (plain(this.line(index)).toLowerCase().includes(wanted)) return index;
    }
    return -1;
  }
}
