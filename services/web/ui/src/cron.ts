// The next time a 5-field cron expression (UTC) fires, for the schedules page while the api
// does not say it itself. Supports `*`, lists, ranges, steps and month/day names.

const NAMES: Record<string, number> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12,
  sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6,
};

function value(text: string): number {
  const named = NAMES[text.toLowerCase()];
  const number = named ?? Number(text);
  if (!Number.isInteger(number)) throw new Error(`bad cron value ${text}`);
  return number;
}

function field(text: string, low: number, high: number): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : value(stepText);
    let from = low;
    let to = high;
    if (range !== "*") {
      const [start, end] = range.split("-");
      from = value(start);
      to = end === undefined ? (stepText === undefined ? from : high) : value(end);
    }
    if (step < 1 || from < low || to > high || from > to) throw new Error(`bad cron field ${text}`);
    for (let item = from; item <= to; item += step) values.add(item);
  }
  return values;
}

/** The next UTC time after `after` that `expression` matches, or null if it cannot be read. */
export function nextFire(expression: string, after: Date = new Date()): Date | null {
  try {
    const parts = expression.trim().split(/\s+/);
    if (parts.length !== 5) return null;
    const minutes = field(parts[0], 0, 59);
    const hours = field(parts[1], 0, 23);
    const days = field(parts[2], 1, 31);
    const months = field(parts[3], 1, 12);
    const weekdays = new Set([...field(parts[4].replace(/\b7\b/g, "0"), 0, 7)].map((day) => day % 7));
    const anyDay = parts[2] === "*";
    const anyWeekday = parts[4] === "*";
    const start = new Date(after.getTime());
    start.setUTCSeconds(0, 0);
    start.setUTCMinutes(start.getUTCMinutes() + 1);
    for (let day = 0; day < 366 * 5; day++) {
      const date = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + day));
      if (!months.has(date.getUTCMonth() + 1)) continue;
      const dayMatch = days.has(date.getUTCDate());
      const weekdayMatch = weekdays.has(date.getUTCDay());
      const matches = anyDay || anyWeekday ? dayMatch && weekdayMatch : dayMatch || weekdayMatch;
      if (!matches) continue;
      for (const hour of [...hours].sort((a, b) => a - b))
        for (const minute of [...minutes].sort((a, b) => a - b)) {
          const candidate = new Date(date.getTime() + (hour * 60 + minute) * 60_000);
          if (candidate >= start) return candidate;
        }
    }
    return null;
  } catch {
    return null;
  }
}
