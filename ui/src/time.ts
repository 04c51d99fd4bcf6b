// Time ranges as they live in the URL: `from`/`to` are `now`, `now-<duration>` or absolute
// epoch milliseconds. Durations use Prometheus syntax (`1h30m`, `500ms`, `7d`).

export interface TimeRange {
  from: string;
  to: string;
}
export const DEFAULT_RANGE: TimeRange = { from: 'now-1h', to: 'now' };

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** Milliseconds of a duration like `1h30m` or `1.5s`; NaN when invalid. */
export function parseDuration(s: string): number {
  const t = s.trim();
  if (!t) return NaN;
  if (/^\d+(\.\d+)?$/.test(t)) return parseFloat(t) * 1000; // bare seconds
  const re = /(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    if (m.index !== consumed) return NaN;
    total += parseFloat(m[1]) * UNITS[m[2]];
    consumed = re.lastIndex;
  }
  return consumed === t.length ? total : NaN;
}

/** `90000` → `1m30s`. */
export function formatDuration(ms: number): string {
  if (!isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= n) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  return parts.join('') || '0s';
}

/** Span-style durations: µs precision for short ones. */
export function formatSpanDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  return formatDuration(ms);
}

/** Epoch ms of a URL time value; NaN when invalid. */
export function parseTime(s: string, now: number): number {
  const t = s.trim();
  if (t === 'now') return now;
  const rel = /^now-(.+)$/.exec(t);
  if (rel) return now - parseDuration(rel[1]);
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = parseFloat(t);
    return n < 1e11 ? n * 1000 : n; // seconds or milliseconds
  }
  return Date.parse(t);
}

export interface Resolved {
  start: number;
  end: number;
}

export function resolveRange(r: TimeRange, now = Date.now()): Resolved {
  let start = parseTime(r.from, now);
  let end = parseTime(r.to, now);
  if (!isFinite(end)) end = now;
  if (!isFinite(start) || start >= end) start = end - 3_600_000;
  return { start, end };
}

export function rangeFromParams(p: URLSearchParams): TimeRange {
  return { from: p.get('from') || DEFAULT_RANGE.from, to: p.get('to') || DEFAULT_RANGE.to };
}

const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** A round step (seconds) giving about `points` points over the range. */
export function autoStep(rangeMs: number, points = 400): number {
  const raw = rangeMs / 1000 / points;
  for (const s of NICE_STEPS) if (s >= raw) return s;
  return Math.ceil(raw / 86400) * 86400;
}

/** A rate window of at least four steps and one minute (span metrics are written every 15 s). */
export function rateWindow(stepS: number): string {
  return formatDuration(Math.max(stepS * 4, 60) * 1000);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(ms: number, withMs = false): string {
  const d = new Date(ms);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** Value for an `<input type="datetime-local">`. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(ms: number, now = Date.now()): string {
  const d = now - ms;
  if (d < 0) return 'in ' + formatDuration(-d);
  if (d < 1000) return 'just now';
  return `${formatDuration(d)} ago`;
}

/** Human label of a range: `Last 1h` or `from – to`. */
export function describeRange(r: TimeRange): string {
  if (r.to === 'now' && r.from.startsWith('now-')) return `Last ${r.from.slice(4)}`;
  const { start, end } = resolveRange(r);
  return `${formatTime(start)} – ${formatTime(end)}`;
}
