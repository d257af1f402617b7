// The log view: virtualised (only the lines on screen are in the DOM), live, searchable.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { download } from "./api";
import { parseAnsi, plain } from "./ansi";
import { LogBuffer } from "./logbuffer";
import { href } from "./util";

const LINE_HEIGHT = 18;
const MAX_HEIGHT = 8_000_000; // browsers cap element heights; beyond it scroll positions are scaled

/** One log line's text with its ANSI colours as spans (the log view's lines, and the steps' sections). */
export function AnsiText({ text }: { text: string }) {
  const segments = useMemo(() => parseAnsi(text), [text]);
  return (
    <>
      {segments.map((segment, index) =>
        segment.cls || segment.style ? (
          <span key={index} class={segment.cls} style={segment.style}>
            {segment.text}
          </span>
        ) : (
          segment.text
        ),
      )}
    </>
  );
}

function Line({ text }: { text: string }) {
  return (
    <span class="lt">
      <AnsiText text={text} />
    </span>
  );
}

export function LogView(props: { project: string; run: string; line?: number; full?: boolean; onEnd?: () => void }) {
  const { project, run } = props;
  const base = `/projects/${encodeURIComponent(project)}/runs/${encodeURIComponent(run)}`;
  const [, setVersion] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(400);
  const [follow, setFollow] = useState(props.line === undefined);
  const [needle, setNeedle] = useState("");
  const [selected, setSelected] = useState<number | null>(props.line !== undefined ? props.line - 1 : null);
  const [searchNote, setSearchNote] = useState("");
  const scroller = useRef<HTMLDivElement>(null);
  const searchBox = useRef<HTMLInputElement>(null);
  const programmatic = useRef(false);
  const frame = useRef(0);
  const buffer = useMemo(() => {
    let pending = 0;
    return new LogBuffer(base, () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => setVersion((value) => value + 1));
    });
  }, [base]);
  useEffect(() => {
    void buffer.start();
    return () => buffer.stop();
  }, [buffer]);
  useEffect(() => {
    if (buffer.done) props.onEnd?.();
  }, [buffer.done]);

  const total = buffer.count;
  const height = Math.min(total * LINE_HEIGHT, MAX_HEIGHT);
  const maxScroll = Math.max(0, height - viewport);
  const visible = Math.ceil(viewport / LINE_HEIGHT) + 1;
  const exact =
    maxScroll > 0 ? (Math.min(scrollTop, maxScroll) / maxScroll) * Math.max(0, total - viewport / LINE_HEIGHT) : 0;
  const first = Math.max(0, Math.floor(exact));
  const top = Math.min(scrollTop, maxScroll) - (exact - first) * LINE_HEIGHT;

  const scrollToLine = (index: number) => {
    const element = scroller.current;
    if (!element) return;
    const span = Math.max(1, total - viewport / LINE_HEIGHT);
    const target = Math.max(0, index - Math.floor(visible / 3));
    programmatic.current = true;
    element.scrollTop = Math.min(target / span, 1) * Math.max(0, Math.min(total * LINE_HEIGHT, MAX_HEIGHT) - viewport);
    setScrollTop(element.scrollTop);
  };

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    setViewport(element.clientHeight);
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    if (follow) {
      programmatic.current = true;
      element.scrollTop = element.scrollHeight;
      setScrollTop(element.scrollTop);
    } else if (selected !== null && props.line !== undefined && total > selected && !buffer.error) {
      if (!element.dataset.jumped) {
        element.dataset.jumped = "1";
        scrollToLine(selected);
      }
    }
  }, [total, follow]);

  const onScroll = () => {
    const element = scroller.current;
    if (!element) return;
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => setScrollTop(element.scrollTop));
    if (programmatic.current) {
      programmatic.current = false;
      return;
    }
    const atBottom = element.scrollTop >= element.scrollHeight - element.clientHeight - 2;
    if (follow && !atBottom) setFollow(false);
    else if (!follow && atBottom && !buffer.done) setFollow(true);
  };

  const search = (event: Event) => {
    event.preventDefault();
    if (!needle) return;
    const found = buffer.find(needle, selected ?? -1, plain);
    if (found < 0) {
      setSearchNote("not found");
      return;
    }
    setSearchNote(`line ${found + 1}`);
    setFollow(false);
    setSelected(found);
    scrollToLine(found);
  };

  const rows = [];
  for (let index = first; index < Math.min(total, first + visible + 1); index++) {
    const number = index + 1;
    rows.push(
      <div key={index} class={`log-line${index === selected ? " selected" : ""}`} data-line={number}>
        <a
          class="ln"
          href={href(["projects", project, "runs", run, "log"], { line: String(number) })}
          onClick={() => setSelected(index)}
          tabIndex={-1}
        >
          {number}
        </a>
        <Line text={buffer.styledLine(index)} />
      </div>,
    );
  }

  return (
    <section
      class={`log${props.full ? " log-full" : ""}`}
      aria-label="Log"
      onKeyDown={(event) => {
        if (event.key === "/" && !(event.target instanceof HTMLInputElement)) {
          event.preventDefault();
          searchBox.current?.focus();
        }
      }}
    >
      <div class="log-tools">
        {buffer.done ? null : ( // a finished log has nothing more to follow
          <button type="button" aria-pressed={follow} onClick={() => setFollow(!follow)}>
            {follow ? "Pause" : "Follow"}
          </button>
        )}
        <form onSubmit={search} class="log-search" role="search">
          <input
            type="search"
            ref={searchBox}
            placeholder="Search the log (/)"
            aria-label="Search the log"
            value={needle}
            onInput={(event) => setNeedle((event.target as HTMLInputElement).value)}
          />
          <button type="submit">Find next</button>
          <span class="muted" aria-live="polite">
            {searchNote}
          </span>
        </form>
        <span class="muted log-count" data-lines={total}>
          {total.toLocaleString()} lines{buffer.done ? "" : " · live"}
        </span>
        <button type="button" onClick={() => void download(`${base}/log`, `${project}-${run}.log`)}>
          Raw log
        </button>
        {props.full ? null : <a href={href(["projects", project, "runs", run, "log"])}>Full screen</a>}
      </div>
      {buffer.error ? <p class="error">{buffer.error}</p> : null}
      <div class="log-scroll" ref={scroller} onScroll={onScroll} tabIndex={0} data-total={total}>
        <div class="log-space" style={{ height: `${height}px` }}>
          <div class="log-window" style={{ transform: `translateY(${top}px)` }}>
            {rows}
          </div>
        </div>
        {total === 0 ? <p class="muted log-empty">{buffer.done ? "The log is empty." : "Waiting for output…"}</p> : null}
      </div>
    </section>
  );
}
