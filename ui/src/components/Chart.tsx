// Time-series chart on uPlot: lines or (stacked) bars, a live legend, drag-to-zoom (reported
// to the page so the URL keeps the range), Shift+drag / arrow keys to pan, and exemplars as
// real focusable buttons laid over the plot.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import type { Labels } from '../api';
import { cssVar, seriesColor, useTheme } from '../theme';
import { formatTime } from '../time';

export interface ChartSeries {
  name: string;
  values: (number | null)[];
  color?: string;
}

export interface ChartExemplar {
  t: number; // seconds
  v: number;
  traceId: string;
  spanId?: string;
  labels: Labels;
  seriesLabels: Labels;
  /** Index of the plotted series the exemplar belongs to, for its colour. */
  seriesIndex?: number;
}

export interface ChartProps {
  xs: number[]; // seconds
  series: ChartSeries[];
  exemplars?: ChartExemplar[];
  onExemplar?: (e: ChartExemplar) => void;
  onZoom?: (startMs: number, endMs: number) => void;
  height?: number;
  bars?: boolean;
  stacked?: boolean;
  yFormat?: (v: number) => string;
  testid: string;
  label?: string;
}

export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e12) return (v / 1e12).toPrecision(3) + 'T';
  if (a >= 1e9) return (v / 1e9).toPrecision(3) + 'G';
  if (a >= 1e6) return (v / 1e6).toPrecision(3) + 'M';
  if (a >= 1e4) return (v / 1e3).toPrecision(3) + 'k';
  if (a >= 100) return v.toFixed(0);
  if (a >= 0.01) return String(+v.toPrecision(3));
  return v.toExponential(2);
}

/** Axis width from its longest tick label. */
function axisSize(_u: uPlot, values: string[] | null): number {
  if (!values || !values.length) return 40;
  return Math.max(40, Math.max(...values.map((v) => String(v).length)) * 7 + 18);
}

export function countPoints(series: ChartSeries[]): number {
  let n = 0;
  for (const s of series) for (const v of s.values) if (v !== null) n++;
  return n;
}

export function Chart(props: ChartProps) {
  const theme = useTheme();
  const box = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const propsRef = useRef(props);
  propsRef.current = props;
  const { xs, series, exemplars, height = 280, bars, stacked, testid } = props;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    el.textContent = '';
    if (!xs.length || !series.length) return;
    const fg = cssVar('--fg-muted') || '#666';
    const grid = cssVar('--grid') || 'rgba(128,128,128,.2)';
    const yFormat = props.yFormat ?? formatValue;

    // Stacked bars: cumulative values, drawn tallest first so each level shows its own slice.
    let shown = series.map((s, i) => ({ ...s, color: s.color ?? seriesColor(i, theme), raw: s.values }));
    if (stacked) {
      const acc = xs.map(() => 0);
      shown = shown.map((s) => ({ ...s, values: s.values.map((v, i) => (acc[i] += v ?? 0)) }));
      shown.reverse();
    }

    // Exemplars share the y scale when their values fall in the series' range, else get their own.
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of shown) for (const v of s.values) if (v !== null && isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    const ex = (exemplars ?? []).filter((e) => isFinite(e.v) && isFinite(e.t));
    let exScale = 'y';
    let exRange: [number, number] | null = null;
    let yWithEx: [number, number] | null = null;
    if (ex.length) {
      let elo = Infinity;
      let ehi = -Infinity;
      for (const e of ex) (elo = Math.min(elo, e.v)), (ehi = Math.max(ehi, e.v));
      // Same axis when the exemplar values overlap the plotted values (histogram_quantile and
      // friends); a second axis otherwise (e.g. rate() of buckets).
      if (isFinite(lo) && elo <= hi && ehi >= lo) yWithEx = [Math.min(lo, elo), Math.max(hi, ehi)];
      else {
        exScale = 'ex';
        const pad = (ehi - elo) * 0.1 || Math.abs(ehi) * 0.1 || 1;
        exRange = [Math.max(0, elo - pad), ehi + pad];
      }
    }

    let buttons: { b: HTMLButtonElement; e: ChartExemplar }[] = [];
    const barPaths = bars ? uPlot.paths.bars!({ size: [0.85, 40], align: 0 }) : undefined;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { live: true },
      cursor: {
        drag: { x: true, y: false, setScale: !propsRef.current.onZoom },
        points: { size: 6 },
      },
      scales: {
        x: { time: true },
        ...(yWithEx ? { y: { range: (_u: uPlot, a: number, b: number) => uPlot.rangeNum(Math.min(a, yWithEx![0]), Math.max(b, yWithEx![1]), 0.1, true) } } : {}),
        ...(exRange ? { ex: { auto: false, range: () => exRange as [number, number] } } : {}),
      },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          size: axisSize,
          values: (_u, vals) => vals.map((v) => yFormat(v)),
        },
        ...(exRange
          ? [{ scale: 'ex', side: 1, stroke: fg, grid: { show: false }, size: axisSize, label: 'exemplar', values: (_u: uPlot, vals: number[]) => vals.map((v) => formatValue(v)) }]
          : []),
      ],
      series: [
        { value: (_u, v) => (v === null ? '–' : formatTime(v * 1000)) },
        ...shown.map((s) => ({
          label: s.name,
          stroke: s.color,
          width: bars ? 0 : 1.5,
          fill: bars ? s.color : undefined,
          paths: barPaths,
          points: { show: bars ? false : undefined, size: 4 },
          spanGaps: false,
          value: (_u: uPlot, _v: number | null, _si: number, di: number | null) => (di === null ? '–' : yFormat(s.raw[di] as number)),
        })),
      ],
      hooks: {
        draw: [(u) => placeExemplars(u)],
        setSelect: [
          (u) => {
            const onZoom = propsRef.current.onZoom;
            if (!onZoom || u.select.width < 4) return;
            const a = u.posToVal(u.select.left, 'x');
            const b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            onZoom(Math.round(a * 1000), Math.round(b * 1000));
          },
        ],
      },
    };

    const data: uPlot.AlignedData = [xs, ...shown.map((s) => s.values)];
    const u = new uPlot(opts, data, el);
    plotRef.current = u;

    // Exemplar buttons inside the plot area.
    const layer = document.createElement('div');
    layer.className = 'exemplar-layer';
    buttons = ex.slice(0, 2000).map((e) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'exemplar';
      b.dataset.testid = 'exemplar';
      b.dataset.traceId = e.traceId;
      if (e.seriesIndex !== undefined && e.seriesIndex >= 0) b.style.background = seriesColor(e.seriesIndex, theme);
      const lbl = `Exemplar ${formatValue(e.v)} at ${formatTime(e.t * 1000)}, trace ${e.traceId}`;
      b.title = lbl;
      b.setAttribute('aria-label', lbl);
      b.addEventListener('mousedown', (ev) => ev.stopPropagation());
      b.addEventListener('click', (ev) => {
        ev.stopPropagation();
        propsRef.current.onExemplar?.(e);
      });
      layer.appendChild(b);
      return { b, e };
    });
    u.over.appendChild(layer);
    function placeExemplars(p: uPlot) {
      const w = p.over.clientWidth;
      const h = p.over.clientHeight;
      for (const { b, e } of buttons) {
        const x = p.valToPos(e.t, 'x');
        const y = p.valToPos(e.v, exScale);
        const hidden = !(x >= 0 && x <= w && y >= -2 && y <= h + 2);
        b.style.display = hidden ? 'none' : '';
        if (!hidden) b.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      }
    }
    placeExemplars(u);

    // Shift+drag pans within the loaded data.
    let pan: { x0: number; min: number; max: number } | null = null;
    const down = (ev: MouseEvent) => {
      if (!ev.shiftKey || ev.button !== 0) return;
      ev.stopPropagation();
      ev.preventDefault();
      pan = { x0: ev.clientX, min: u.scales.x.min ?? xs[0], max: u.scales.x.max ?? xs[xs.length - 1] };
    };
    const move = (ev: MouseEvent) => {
      if (!pan) return;
      const dv = ((ev.clientX - pan.x0) / u.over.clientWidth) * (pan.max - pan.min);
      u.setScale('x', { min: pan.min - dv, max: pan.max - dv });
    };
    const up = () => (pan = null);
    u.over.addEventListener('mousedown', down, true);
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);

    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      u.destroy();
      plotRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [xs, series, exemplars, theme, height, bars, stacked]);

  const onKey = (ev: KeyboardEvent) => {
    const u = plotRef.current;
    if (!u || !xs.length) return;
    const min = u.scales.x.min ?? xs[0];
    const max = u.scales.x.max ?? xs[xs.length - 1];
    const span = max - min;
    let next: [number, number] | null = null;
    if (ev.key === 'ArrowLeft') next = [min - span * 0.1, max - span * 0.1];
    else if (ev.key === 'ArrowRight') next = [min + span * 0.1, max + span * 0.1];
    else if (ev.key === '+' || ev.key === '=') next = [min + span * 0.25, max - span * 0.25];
    else if (ev.key === '-') next = [min - span * 0.5, max + span * 0.5];
    else if (ev.key === '0') next = [xs[0], xs[xs.length - 1]];
    // Never zoom in past a few samples.
    const minSpan = ((xs[xs.length - 1] - xs[0]) / Math.max(1, xs.length)) * 4;
    if (next && next[1] - next[0] < minSpan) next = null;
    if (next) {
      ev.preventDefault();
      u.setScale('x', { min: next[0], max: next[1] });
    }
  };

  const points = countPoints(series);
  return (
    <div
      class="chart"
      data-testid={testid}
      data-series={series.length}
      data-points={points}
      data-exemplars={exemplars?.length ?? 0}
      tabIndex={0}
      aria-label={`${props.label ?? 'Chart'}: ${series.length} series, ${points} points. Arrow keys pan, + and - zoom, 0 resets; Shift+drag pans, drag zooms.`}
      onKeyDown={onKey}
    >
      <div ref={box} class="chart-plot" />
      {!series.length || !xs.length ? <div class="empty">No data in this range.</div> : null}
    </div>
  );
}
