// The pipeline graph: elements as nodes in columns by depth, `after` conditions as edges,
// nodes coloured by the status of the element's child run; a node opens its run (or its job).
import type { PipelineElement, Run } from "./types";
import { href, runHref } from "./util";

const WIDTH = 170;
const HEIGHT = 48;
const GAP_X = 70;
const GAP_Y = 24;

function depths(elements: PipelineElement[]): Map<string, number> {
  const byId = new Map(elements.map((element) => [element.id, element]));
  const depth = new Map<string, number>();
  const visit = (id: string, seen: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const element = byId.get(id);
    if (!element || seen.has(id)) return 0; // unknown or cyclic: the api should refuse these
    seen.add(id);
    const value = element.after.reduce((most, condition) => Math.max(most, visit(condition.element, seen) + 1), 0);
    depth.set(id, value);
    return value;
  };
  elements.forEach((element) => visit(element.id, new Set()));
  return depth;
}

export function Graph({ project, elements, runs }: { project: string; elements: PipelineElement[]; runs: Run[] }) {
  const depth = depths(elements);
  const columns = new Map<number, string[]>();
  for (const element of elements) {
    const column = depth.get(element.id) ?? 0;
    columns.set(column, [...(columns.get(column) ?? []), element.id]);
  }
  const position = new Map<string, { x: number; y: number }>();
  for (const [column, ids] of columns)
    ids.forEach((id, row) => position.set(id, { x: 10 + column * (WIDTH + GAP_X), y: 10 + row * (HEIGHT + GAP_Y) }));
  const width = 20 + columns.size * (WIDTH + GAP_X) - GAP_X;
  const height = 20 + Math.max(...[...columns.values()].map((ids) => ids.length)) * (HEIGHT + GAP_Y) - GAP_Y;
  const runOf = new Map<string, Run>();
  for (const run of runs) {
    const element = run.source.element;
    const previous = element ? runOf.get(element) : undefined;
    if (element && (!previous || run.created_at > previous.created_at)) runOf.set(element, run);
  }
  return (
    <div class="graph-wrap">
      {/* Drawn at its natural size, shrunk (never cut) to fit a narrower card: see .graph in style.css. */}
      <svg class="graph" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img"
        aria-label="Pipeline graph" preserveAspectRatio="xMinYMin meet">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" class="arrow" />
          </marker>
        </defs>
        {elements.flatMap((element) =>
          element.after.map((condition) => {
            const from = position.get(condition.element);
            const to = position.get(element.id);
            if (!from || !to) return null;
            const x1 = from.x + WIDTH;
            const y1 = from.y + HEIGHT / 2;
            const x2 = to.x;
            const y2 = to.y + HEIGHT / 2;
            const middle = (x1 + x2) / 2;
            const label = condition.status.join(" | ");
            return (
              <g key={`${condition.element}->${element.id}`} class="edge" data-from={condition.element} data-to={element.id}>
                <path d={`M${x1},${y1} C${middle},${y1} ${middle},${y2} ${x2},${y2}`} marker-end="url(#arrow)" />
                {label !== "succeeded" ? (
                  <text x={middle} y={(y1 + y2) / 2 - 4} text-anchor="middle" class="edge-label">
                    {label}
                  </text>
                ) : null}
              </g>
            );
          }),
        )}
        {elements.map((element) => {
          const at = position.get(element.id)!;
          const run = runOf.get(element.id);
          const status = run?.status ?? "none";
          const target = run ? runHref(project, run.id) : href(["projects", project, "jobs", element.job]);
          return (
            <a key={element.id} href={target} class={`node status-${status}`} data-element={element.id}
              data-status={status} aria-label={`${element.id}: job ${element.job}, ${run ? run.status : "no run"}`}>
              <rect x={at.x} y={at.y} width={WIDTH} height={HEIGHT} rx="8" />
              <text x={at.x + 12} y={at.y + 20} class="node-title">
                {element.id}
              </text>
              <text x={at.x + 12} y={at.y + 38} class="node-sub">
                {element.job}
                {run ? ` · ${run.status}` : ""}
              </text>
            </a>
          );
        })}
      </svg>
    </div>
  );
}
