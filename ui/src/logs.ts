import type { Labels, LokiStream } from './api';

export interface LogRow {
  key: string;
  ns: string;
  ms: number;
  line: string;
  labels: Labels;
  meta: Labels;
  parsed: Labels;
  traceId: string;
  spanId: string;
  level: string;
}

const TRACE_RE = /\btrace[_-]?id["']?\s*[:=]\s*["']?([0-9a-fA-F]{16,32})\b/i;
const SPAN_RE = /\bspan[_-]?id["']?\s*[:=]\s*["']?([0-9a-fA-F]{16})\b/i;
const LEVEL_RE = /\b(?:level|lvl|severity)["']?\s*[:=]\s*["']?([A-Za-z]+)/i;

function pick(sets: Labels[], names: string[]): string {
  for (const s of sets) for (const n of names) if (s[n]) return s[n];
  return '';
}

export function makeRow(ns: string, line: string, labels: Labels, meta: Labels = {}, parsed: Labels = {}): LogRow {
  const sets = [meta, parsed, labels];
  const traceId = (pick(sets, ['trace_id', 'traceId', 'traceID', 'TraceId']) || (TRACE_RE.exec(line)?.[1] ?? '')).toLowerCase();
  const spanId = (pick(sets, ['span_id', 'spanId', 'spanID', 'SpanId']) || (SPAN_RE.exec(line)?.[1] ?? '')).toLowerCase();
  const level = pick(sets, ['level', 'detected_level', 'severity', 'lvl', 'level_extracted']) || (LEVEL_RE.exec(line)?.[1] ?? '');
  // Nanoseconds don't fit a double exactly; milliseconds do.
  const ms = Number(ns.length > 6 ? ns.slice(0, -6) : '0') + Number(ns.slice(-6)) / 1e6;
  return { key: `${ns}|${line.length}|${line.slice(0, 40)}|${JSON.stringify(labels)}`, ns, ms, line, labels, meta, parsed, traceId, spanId, level };
}

/** Flattens streams into rows, newest first (or oldest first with `forward`). */
export function streamsToRows(streams: LokiStream[], forward = false): LogRow[] {
  const rows: LogRow[] = [];
  for (const s of streams) {
    for (const e of s.values) {
      const meta = e.length > 2 ? (e[2] ?? {}) : {};
      rows.push(makeRow(e[0], e[1], s.stream, meta.structuredMetadata ?? {}, meta.parsed ?? {}));
    }
  }
  rows.sort((a, b) => (a.ns.length - b.ns.length || (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0)) * (forward ? 1 : -1));
  return rows;
}

export function isLogQuery(q: string): boolean {
  return q.trim().startsWith('{');
}

/** ms → Loki's nanosecond timestamps as strings. */
export function nsString(ms: number): string {
  return `${Math.round(ms)}000000`;
}
