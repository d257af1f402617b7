// ANSI SGR colours to styled segments. Text stays text: the caller renders it as text nodes,
// so HTML in a log line is never interpreted.

export interface Segment {
  text: string;
  cls: string;
  style: string;
}

interface State {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

const ESCAPE = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;

function fresh(): State {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
}

function colour256(n: number): string {
  if (n < 16) return `var(--ansi-${n})`;
  if (n < 232) {
    const steps = [0, 95, 135, 175, 215, 255];
    const index = n - 16;
    return `rgb(${steps[Math.floor(index / 36)]},${steps[Math.floor(index / 6) % 6]},${steps[index % 6]})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey},${grey},${grey})`;
}

function apply(state: State, codes: number[]): void {
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code === 0) Object.assign(state, fresh());
    else if (code === 1) state.bold = true;
    else if (code === 2) state.dim = true;
    else if (code === 3) state.italic = true;
    else if (code === 4) state.underline = true;
    else if (code === 22) state.bold = state.dim = false;
    else if (code === 23) state.italic = false;
    else if (code === 24) state.underline = false;
    else if (code >= 30 && code <= 37) state.fg = `var(--ansi-${code - 30})`;
    else if (code >= 90 && code <= 97) state.fg = `var(--ansi-${code - 90 + 8})`;
    else if (code === 39) state.fg = null;
    else if (code >= 40 && code <= 47) state.bg = `var(--ansi-${code - 40})`;
    else if (code >= 100 && code <= 107) state.bg = `var(--ansi-${code - 100 + 8})`;
    else if (code === 49) state.bg = null;
    else if ((code === 38 || code === 48) && codes[i + 1] === 5 && i + 2 < codes.length) {
      const colour = colour256(codes[i + 2] & 255);
      if (code === 38) state.fg = colour;
      else state.bg = colour;
      i += 2;
    } else if ((code === 38 || code === 48) && codes[i + 1] === 2 && i + 4 < codes.length) {
      const colour = `rgb(${codes[i + 2] & 255},${codes[i + 3] & 255},${codes[i + 4] & 255})`;
      if (code === 38) state.fg = colour;
      else state.bg = colour;
      i += 4;
    }
  }
}

function segment(text: string, state: State): Segment {
  const classes = [state.bold && "b", state.dim && "d", state.italic && "i", state.underline && "u"];
  const style = `${state.fg ? `color:${state.fg};` : ""}${state.bg ? `background:${state.bg};` : ""}`;
  return { text, cls: classes.filter(Boolean).join(" "), style };
}

/** Split one log line into styled segments; other escape sequences are dropped. */
export function parseAnsi(line: string): Segment[] {
  const carriage = line.lastIndexOf("\r", line.length - 2);
  if (carriage >= 0) line = line.slice(carriage + 1); // a progress bar: keep what was drawn last
  if (line.indexOf("\x1b") < 0) return [{ text: line, cls: "", style: "" }];
  const state = fresh();
  const segments: Segment[] = [];
  let last = 0;
  ESCAPE.lastIndex = 0;
  for (let match = ESCAPE.exec(line); match; match = ESCAPE.exec(line)) {
    if (match.index > last) segments.push(segment(line.slice(last, match.index), state));
    if (match[2] === "m") apply(state, (match[1] || "0").split(";").map((code) => Number(code) || 0));
    last = ESCAPE.lastIndex;
  }
  if (last < line.length) segments.push(segment(line.slice(last), state));
  return segments;
}

/** The line without escape sequences, for search. */
export function plain(line: string): string {
  return line.indexOf("\x1b") < 0 ? line : line.replace(ESCAPE, "");
}
