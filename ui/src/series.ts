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

/** Fills a regular grid (start..end by step, seconds) so bars line up even where a series has no point. */
export function alignGrid(result: MatrixSeries[], start: number, end: number, step: number, name: (l: Labels) => string): Aligned {
  const first = Math.ceil(start / step) * step;
  const xs: number[] = [];
  for (let t = first; t <= end + 1e-9; t += step) xs.push(t);
  const series = result.map((s) => {
    const values: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = Math.round((t - first) / step);
      if (i >= 0 && i < xs.length) values[i] = sampleValue(v);
    }
    return { name: name(s.metric), values };
  });
  return { xs, series, labels: result.map((s) => s.metric) };
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
