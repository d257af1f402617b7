// A run's steps: one collapsible section per command, with its duration, exit code and its part of
// the log (the bytes from its offset to the next step's), read when the section opens. The failed
// step opens by itself.
import { useEffect, useState } from "preact/hooks";
import { request } from "./api";
import { AnsiText } from "./LogView";
import { FINAL, type Run, type RunStep } from "./types";
import { formatDuration, href } from "./util";

/** Bytes of a step's log shown in its section; beyond, the whole log has the rest. */
const SECTION_BYTES = 256 * 1024;

function StepLine({ text }: { text: string }) {
  return (
    <div class="step-line">
      <AnsiText text={text} />
    </div>
  );
}

function StepLog({ base, start, end, version }: { base: string; start: number; end: number | null; version: string }) {
  const [text, setText] = useState<string | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stale = false;
    const wanted = end === null ? SECTION_BYTES : Math.min(end - start, SECTION_BYTES);
    if (wanted <= 0) {
      setText("");
      return;
    }
    request(`${base}/log?offset=${start}&limit=${wanted}`)
      .then(async (response) => {
        const data = new Uint8Array(await response.arrayBuffer());
        if (stale) return;
        setText(new TextDecoder("utf-8").decode(data));
        setMore(end === null ? data.length >= SECTION_BYTES : end - start > SECTION_BYTES);
      })
      .catch((reason) => !stale && setError(String(reason)));
    return () => {
      stale = true;
    };
  }, [base, start, end, version]);
  if (error) return <p class="error">{error}</p>;
  if (text === null) return <p class="muted">Loading…</p>;
  if (!text) return <p class="muted step-empty">No output.</p>;
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return (
    <div class="step-log">
      {lines.map((line, index) => (
        <StepLine key={index} text={line} />
      ))}
      {more ? <p class="muted">The rest of this step is in the whole log below.</p> : null}
    </div>
  );
}

/** An argv as a shell would read it back (as Python's `shlex.join` writes it): no word is ambiguous. */
function shellJoin(argv: string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\"'\"'")}'`)).join(" ");
}

function outcome(step: RunStep, final: boolean): { label: string; cls: string } {
  if (step.exit_code === null) {
    if (!step.completed_at && !final) return { label: "running", cls: "running" };
    return { label: "did not start", cls: "exception" };
  }
  if (step.exit_code === 0) return { label: "exit 0", cls: "succeeded" };
  if (step.exit_code < 0) return { label: `killed by signal ${-step.exit_code}`, cls: "failed" };
  return { label: `exit ${step.exit_code}`, cls: "failed" };
}

export function Steps({ run }: { run: Run }) {
  const steps = run.steps ?? [];
  const base = `/projects/${encodeURIComponent(run.project)}/runs/${encodeURIComponent(run.id)}`;
  const final = FINAL.has(run.status);
  const [toggled, setToggled] = useState<Record<number, boolean>>({});
  if (!steps.length) return null;
  return (
    <section class="card steps" aria-label="Steps">
      <h2>Steps</h2>
      {steps.map((step, position) => {
        const next = steps[position + 1];
        const end = next ? next.log_offset : null;
        const shown = outcome(step, final);
        const failed = shown.cls === "failed" || shown.cls === "exception";
        const open = toggled[step.index] ?? failed;
        return (
          <details
            key={step.index}
            class={`step step-${shown.cls}`}
            data-step={step.index}
            open={open}
            onToggle={(event) => {
              const now = (event.currentTarget as HTMLDetailsElement).open;
              if (now !== open) setToggled((old) => ({ ...old, [step.index]: now }));
            }}
          >
            <summary>
              <span class="step-index">{step.index}</span>
              <code class="step-argv" title={shellJoin(step.argv)}>
                {shellJoin(step.argv)}
              </code>
              <span class="muted step-duration">{formatDuration(step.started_at, step.completed_at)}</span>
              <span class={`badge step-exit status-${shown.cls}`} data-outcome={shown.cls}>
                {shown.label}
              </span>
            </summary>
            {open ? (
              <>
                <StepLog base={base} start={step.log_offset} end={end} version={`${end}:${step.completed_at}:${run.updated_at}`} />
                <a class="muted" href={href(["projects", run.project, "runs", run.id, "log"])}>
                  Whole log
                </a>
              </>
            ) : null}
          </details>
        );
      })}
    </section>
  );
}
