// Turning API results into the aligned arrays uPlot wants.
import { formatLabels, type ExemplarSeries, type Labels, type MatrixSeries } from './api';
import type { ChartExemplar, ChartSeries } from './components/Chart';

export function sampleValue(s: string): number | null {
  const v = s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : parseFloat(s);
  return isFinite(v) ? v : null;
}

export interface Aligned {
  xs: number[];
  series: ChartSeries[];
  labels: Labels[];
}

/** Aligns matrix series on the union of their timestamps (seconds). */
export function alignMatrix(result: MatrixSeries[], name: (l: Labels) => string = (l) => formatLabels(l)): Aligned {
  const ts = new Set<number>();
  for (const s of result) for (const [t] of s.values ?? []) ts.add(t);
  const xs = [...ts].sort((a, b) => a - b);
  const index = new Map<number, number>();
  xs.forEach((t, i) => index.set(t, i));
  const series = result.map((s) => {
    const values: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of s.values ?? []) values[index.get(t)!] = sampleValue(v);
    return { name: name(s.metric), values };
  });
  return { xs, series, labels: result.map((s) => s.metric) };
}

const MAX_GRID = 20_000;

/**
 * Aligns a range query's series on its full step grid over [start, end] (seconds), so a step
 * without a sample is a null (a gap the chart does not bridge) even when no series has it.
 * The grid is anchored on the returned timestamps (Prometheus and nerve's Loki API count steps
 * from `start`; other servers from multiples of `step`). Answers that fit no grid fall back to
 * the union of timestamps, with a null wherever two neighbours lie more than 1.5 steps apart.
 */
export function alignRange(result: MatrixSeries[], start: number, end: number, step: number, name: (l: Labels) => string = (l) => formatLabels(l)): Aligned {
  const labels = result.map((s) => s.metric);
  let t0: number | undefined;
  for (const s of result) {
    if (s.values?.length) {
      t0 = s.values[0][0];
      break;
    }
  }
  if (t0 === undefined || !(step > 0) || (end - start) / step > MAX_GRID) {
    if (t0 === undefined) return { xs: [], series: result.map((s) => ({ name: name(s.metric), values: [] })), labels };
    return withGaps(alignMatrix(result, name), step);
  }
  const eps = Math.max(1e-3, step * 1e-6);
  let off = (((t0 - start) % step) + step) % step;
  if (step - off < eps) off = 0;
  const first = start + off;
  const n = Math.floor((end - first) / step + eps) + 1;
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(+(first + i * step).toFixed(6));
  const series = [];
  for (const s of result) {
    const values: (number | null)[] = new Array(n).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = Math.round((t - first) / step);
      if (i < 0 || i >= n || Math.abs(first + i * step - t) > eps) return withGaps(alignMatrix(result, name), step);
      values[i] = sampleValue(v);
    }
    series.push({ name: name(s.metric), values });
  }
  return { xs, series, labels };
}

/** Inserts a null row between neighbouring timestamps more than 1.5 steps apart. */
function withGaps(a: Aligned, step: number): Aligned {
  if (!(step > 0) || a.xs.length < 2) return a;
  const xs: number[] = [];
  const cols: number[] = []; // source index, or -1 for an inserted gap
  a.xs.forEach((t, i) => {
    if (i > 0 && t - a.xs[i - 1] > step * 1.5) {
      xs.push(a.xs[i - 1] + step);
      cols.push(-1);
    }
    xs.push(t);
    cols.push(i);
  });
  if (xs.length === a.xs.length) return a;
  return { ...a, xs, series: a.series.map((s) => ({ ...s, values: cols.map((c) => (c < 0 ? null : s.values[c])) })) };
}

/** A query on one line, cut to a legend-sized label. */
export function shortQuery(q: string, max = 80): string {
  const one = q.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

export function traceIdOf(l: Labels): string {
  return l.trace_id || l.traceID || l.traceId || l.TraceID || '';
}

/** The first plotted series whose labels all agree with the exemplar's series labels. */
function matchSeries(seriesLabels: Labels, plotted: Labels[]): number {
  return plotted.findIndex((l) => Object.entries(l).every(([k, v]) => k === '__name__' || seriesLabels[k] === v));
}

export function toChartExemplars(data: ExemplarSeries[], plotted: Labels[] = []): ChartExemplar[] {
  const out: ChartExemplar[] = [];
  for (const s of data) {
    for (const e of s.exemplars ?? []) {
      const traceId = traceIdOf(e.labels);
      const v = sampleValue(e.value);
      if (!traceId || v === null) continue;
      out.push({ t: e.timestamp, v, traceId, spanId: e.labels.span_id || e.labels.spanID, labels: e.labels, seriesLabels: s.seriesLabels, seriesIndex: matchSeries(s.seriesLabels, plotted) });
    }
  }
  return out;
}
