// A run's log held as lines: filled by byte-range reads of `/log`, then by the live stream.
import { request } from "./api";
import { openStream } from "./sse";
import { FINAL } from "./types";

const RANGE = 4 * 1024 * 1024;

const SGR = /\x1b\[([0-9;]*)m/g;

/** The SGR sequences in force after `line`, given those in force before it. */
function carryAfter(carry: string, line: string): string {
  for (const match of line.matchAll(SGR)) {
    const codes = match[1].split(";");
    let reset = -1;
    for (let i = 0; i < codes.length; i++) {
      if ((codes[i] === "38" || codes[i] === "48") && codes[i + 1] === "5") i += 2;
      else if ((codes[i] === "38" || codes[i] === "48") && codes[i + 1] === "2") i += 4;
      else if (codes[i] === "0" || codes[i] === "") reset = i;
    }
    if (reset < 0) carry += match[0];
    else carry = reset + 1 < codes.length ? `\x1b[${codes.slice(reset + 1).join(";")}m` : "";
  }
  if (carry.length > 256) carry = carry.slice(carry.indexOf("\x1b", carry.length - 256));
  return carry;
}

export class LogBuffer {
  lines: string[] = [];
  /** The SGR codes still in force where a line starts, for lines that start coloured. */
  private carried = new Map<number, string>();
  private carry = "";
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

  /** The line with the colour state it starts in (a colour set on an earlier line still applies). */
  styledLine(index: number): string {
    const prefix = this.carried.get(index) ?? (index === this.lines.length ? this.carry : "");
    return prefix + this.line(index);
  }

  private append(text: string): void {
    if (!text) return;
    const pieces = (this.partial + text).split("\n");
    this.partial = pieces.pop() ?? "";
    for (const piece of pieces) {
      if (this.carry) this.carried.set(this.lines.length, this.carry);
      if (piece.indexOf("\x1b") >= 0) this.carry = carryAfter(this.carry, piece);
      this.lines.push(piece);
    }
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
