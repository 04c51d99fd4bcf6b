// Trace durations over time: one dot per trace (a link to it), errors in vermillion.
import { useEffect, useRef, useState } from 'preact/hooks';
import { href } from '../router';
import { formatSpanDuration, formatTime } from '../time';
import type { TraceSummary } from '../traces';

const H = 150;
const PAD = { l: 64, r: 12, t: 10, b: 24 };

/** `startMs`/`endMs`: the searched range, which is the x axis whatever the traces' own times. */
export function TraceScatter({ traces, from, to, startMs, endMs }: { traces: TraceSummary[]; from: string; to: string; startMs: number; endMs: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(800);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(Math.max(300, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  if (!traces.length) return null;
  const t0 = startMs;
  const t1 = Math.max(endMs, startMs + 1);
  const dmax = Math.max(...traces.map((t) => t.durationMs)) * 1.1 || 1;
  const span = t1 - t0 || 1;
  const x = (t: number) => PAD.l + ((t - t0) / span) * (w - PAD.l - PAD.r);
  const y = (d: number) => H - PAD.b - (d / dmax) * (H - PAD.t - PAD.b);
  const ticks = [0, 0.5, 1].map((f) => dmax * f);
  return (
    <div ref={box} class="scatter" data-testid="trace-scatter" data-range-start={t0} data-range-end={t1}>
      <svg width={w} height={H} role="img" aria-label={`Durations of ${traces.length} traces over time`}>
        {ticks.map((d) => (
          <g key={d}>
            <line x1={PAD.l} x2={w - PAD.r} y1={y(d)} y2={y(d)} class="gridline" />
            <text x={PAD.l - 6} y={y(d) + 4} text-anchor="end" class="axis-label">
              {formatSpanDuration(d)}
            </text>
          </g>
        ))}
        <text x={PAD.l} y={H - 6} class="axis-label">
          {formatTime(t0)}
        </text>
        <text x={(PAD.l + w - PAD.r) / 2} y={H - 6} text-anchor="middle" class="axis-label">
          {formatTime((t0 + t1) / 2)}
        </text>
        <text x={w - PAD.r} y={H - 6} text-anchor="end" class="axis-label">
          {formatTime(t1)}
        </text>
        {traces.map((t) => (
          <a key={t.traceId} href={href(`/trace/${t.traceId}`, { from, to })} aria-label={`${t.rootService}: ${t.rootName}, ${formatSpanDuration(t.durationMs)}`}>
            <title>{`${t.rootService}: ${t.rootName}\n${formatSpanDuration(t.durationMs)} at ${formatTime(t.startMs)}`}</title>
            <circle cx={x(t.startMs)} cy={y(t.durationMs)} r={4 + Math.min(4, Math.sqrt(t.spanCount) / 2)} class={t.errorCount ? 'dot err' : 'dot'} />
          </a>
        ))}
      </svg>
    </div>
  );
}
