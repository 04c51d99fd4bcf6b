// Time-series chart on uPlot: lines or (stacked) bars, a live legend, drag-to-zoom (reported
// to the page so the URL keeps the range), Shift+drag / arrow keys to pan, and exemplars as
// real focusable buttons laid over the plot.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useLayoutEffect, useRef } from 'preact/hooks';
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
  /** The x scale, always exactly the queried range (seconds), however much data there is. */
  xRange: [number, number];
  /** The query's step (seconds): bounds keyboard zoom; exposed as data-step. */
  step?: number;
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
  /**
   * The data is a previous request's, shown (dimmed, aria-busy, data-stale) while a new one
   * loads. Its xRange/step must still be that request's own.
   */
  stale?: boolean;
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

/**
 * Tick labels with as many decimals as the tick spacing needs (so 4.995, 5, 5.005 stay
 * distinct), one k/M/G/T unit for the whole axis.
 */
export function formatTicks(vals: number[], incr: number): string[] {
  const max = Math.max(...vals.map((v) => Math.abs(v)), 0);
  if (!(incr > 0) || !isFinite(max)) return vals.map((v) => formatValue(v));
  if (max > 0 && max < 1e-3) return vals.map((v) => (v === 0 ? '0' : v.toExponential(Math.max(0, Math.min(4, Math.floor(Math.log10(max)) - Math.floor(Math.log10(incr)))))));
  const [div, unit] = max >= 1e12 ? [1e12, 'T'] : max >= 1e9 ? [1e9, 'G'] : max >= 1e6 ? [1e6, 'M'] : max >= 1e4 ? [1e3, 'k'] : [1, ''];
  // Decimals that write the spacing itself exactly (2.5 → 1, 0.005 → 3).
  const step = incr / div;
  let decimals = 0;
  while (decimals < 8 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6 * 10 ** decimals) decimals++;
  return vals.map((v) => (v / div).toFixed(decimals) + (v === 0 ? '' : unit));
}

/** Axis width from its longest tick label. */
function axisSize(_u: uPlot, values: string[] | null): number {
  if (!values || !values.length) return 40;
  return Math.max(40, Math.max(...values.map((v) => String(v).length)) * 8 + 16);
}

export function countPoints(series: ChartSeries[]): number {
  let n = 0;
  for (const s of series) for (const v of s.values) if (v !== null) n++;
  return n;
}

/** Indices of samples with no neighbouring sample: a line cannot show them, a dot can. */
function isolatedPoints(values: (number | null)[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== null && (i === 0 || values[i - 1] === null) && (i === values.length - 1 || values[i + 1] === null)) out.push(i);
  }
  return out;
}

/** The latest non-null value of a series (the legend's value while the cursor is elsewhere). */
function lastValue(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

// 24-hour tick labels in the app's own date format (uPlot's default is US 12-hour); the
// second line appears where the date (or year) changes.
const NLD = '\n{YYYY}-{MM}-{DD}';
const NLMD = '\n{MM}-{DD}';
const HM = '{HH}:{mm}';
const TIME_AXIS: (string | number | null)[][] = [
  [31_536_000, '{YYYY}', null, null, null, null, null, null, 1],
  [86_400 * 28, '{YYYY}-{MM}', null, null, null, null, null, null, 1],
  [86_400, '{MM}-{DD}', '\n{YYYY}', null, null, null, null, null, 1],
  [3_600, HM, NLD, null, NLMD, null, null, null, 1],
  [60, HM, NLD, null, NLMD, null, null, null, 1],
  [1, `${HM}:{ss}`, NLD, null, NLMD, null, null, null, 1],
  [0.001, `${HM}:{ss}.{fff}`, NLD, null, NLMD, null, null, null, 1],
];

export function Chart(props: ChartProps) {
  const theme = useTheme();
  const box = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const setXRef = useRef<((min: number, max: number, lock?: boolean) => void) | null>(null);
  const propsRef = useRef(props);
  propsRef.current = props;
  const { xs, xRange, series, exemplars, height = 280, bars, stacked, testid } = props;
  const [x0, x1] = xRange;

  // A layout effect: the plot is rebuilt before the browser paints the new props' data-*
  // attributes, so no frame (and no test reading them) pairs the new attributes with the old
  // plot or its data-x-min/data-x-max.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    el.textContent = '';
    const host = el.parentElement!;
    for (const k of ['xMin', 'xMax', 'visiblePoints', 'markers']) delete host.dataset[k];
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
    // A bar at t counts (t - step, t] (count_over_time and friends): it ends at its timestamp.
    const barPaths = bars ? uPlot.paths.bars!({ size: [0.85, 40], align: -1 }) : undefined;

    // The x scale is the queried range, not the data's extent (which for one sample would be
    // uPlot's default day-wide guess, and for a few samples a few seconds). Panning and
    // keyboard zoom unlock it; 0 locks it again.
    let xLocked = true;
    const setX = (min: number, max: number, lock = false) => {
      xLocked = lock;
      u.setScale('x', { min, max });
    };

    // Points: every sample of a series with few of them, or when samples lie far enough apart
    // on screen to tell apart; otherwise only those no line segment reaches (between gaps).
    const counts = shown.map((s) => s.values.reduce<number>((n, v) => n + (v === null ? 0 : 1), 0));
    const isolated = shown.map((s) => isolatedPoints(s.values));
    let minGap = Infinity;
    for (let i = 1; i < xs.length; i++) minGap = Math.min(minGap, xs[i] - xs[i - 1]);
    let markers = 0;
    const pointsShow = (p: uPlot, si: number) => {
      const n = counts[si - 1] ?? 0;
      const { min, max } = p.scales.x;
      const gapPx = isFinite(minGap) && max! > min! ? ((p.bbox.width / uPlot.pxRatio) * minGap) / (max! - min!) : Infinity;
      const show = n > 0 && (n <= 12 || gapPx >= 8);
      markers += show ? n : (isolated[si - 1]?.length ?? 0);
      return show;
    };
    const pointsFilter = (_p: uPlot, si: number, show: boolean) => (show ? null : isolated[si - 1]?.length ? isolated[si - 1] : null);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { live: true },
      cursor: {
        drag: { x: true, y: false, setScale: !propsRef.current.onZoom },
        points: { size: 6 },
        // Hovering near a sparse series' sample (not exactly on its step) still shows it.
        hover: { skip: [null, undefined], prox: 24 },
      },
      scales: {
        x: { time: true, range: (_u: uPlot, a: number, b: number): uPlot.Range.MinMax => (xLocked ? [x0, x1] : [a, b]) },
        ...(yWithEx ? { y: { range: (_u: uPlot, a: number, b: number) => uPlot.rangeNum(Math.min(a, yWithEx![0]), Math.max(b, yWithEx![1]), 0.1, true) } } : {}),
        ...(exRange ? { ex: { auto: false, range: () => exRange as [number, number] } } : {}),
      },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, space: 70, values: TIME_AXIS as uPlot.Axis.Values },
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          size: axisSize,
          values: (_u, vals, _ai, _space, incr) => (props.yFormat ? vals.map((v) => yFormat(v)) : formatTicks(vals, incr)),
        },
        ...(exRange
          ? [{ scale: 'ex', side: 1, stroke: fg, grid: { show: false }, size: axisSize, label: 'exemplar', values: (_u: uPlot, vals: number[]) => vals.map((v) => formatValue(v)) }]
          : []),
      ],
      series: [
        { value: (_u, v) => (v === null ? 'latest' : formatTime(v * 1000)) },
        ...shown.map((s) => ({
          label: s.name,
          stroke: s.color,
          width: bars ? 0 : 1.5,
          fill: bars ? s.color : undefined,
          paths: barPaths,
          points: bars ? { show: false } : { show: pointsShow, filter: pointsFilter, size: 5, width: 1, fill: s.color },
          spanGaps: false,
          // While the cursor is off the plot the legend shows each series' latest value.
          value: (p: uPlot, _v: number | null, _si: number, di: number | null) => {
            const v = di !== null ? s.raw[di] : (p.cursor.left ?? -1) < 0 ? lastValue(s.raw) : null;
            return v === null || v === undefined ? '–' : yFormat(v);
          },
        })),
      ],
      hooks: {
        drawClear: [() => void (markers = 0)],
        draw: [
          (p) => {
            placeExemplars(p);
            // What is on screen, for tests and for anyone inspecting the page.
            const { min, max } = p.scales.x;
            host.dataset.xMin = String(min);
            host.dataset.xMax = String(max);
            let visible = 0;
            for (const s of shown) s.raw.forEach((v, i) => v !== null && xs[i] >= min! && xs[i] <= max! && visible++);
            host.dataset.visiblePoints = String(visible);
            host.dataset.markers = String(markers);
          },
        ],
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
      b.dataset.t = String(e.t);
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
      pan = { x0: ev.clientX, min: u.scales.x.min ?? x0, max: u.scales.x.max ?? x1 };
    };
    const move = (ev: MouseEvent) => {
      if (!pan) return;
      const dv = ((ev.clientX - pan.x0) / u.over.clientWidth) * (pan.max - pan.min);
      setX(pan.min - dv, pan.max - dv);
    };
    setXRef.current = setX;
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
      setXRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [xs, x0, x1, series, exemplars, theme, height, bars, stacked]);

  const onKey = (ev: KeyboardEvent) => {
    const u = plotRef.current;
    const setX = setXRef.current;
    if (!u || !setX || !xs.length) return;
    const min = u.scales.x.min ?? x0;
    const max = u.scales.x.max ?? x1;
    const span = max - min;
    let next: [number, number] | null = null;
    if (ev.key === 'ArrowLeft') next = [min - span * 0.1, max - span * 0.1];
    else if (ev.key === 'ArrowRight') next = [min + span * 0.1, max + span * 0.1];
    else if (ev.key === '+' || ev.key === '=') next = [min + span * 0.25, max - span * 0.25];
    else if (ev.key === '-') next = [min - span * 0.5, max + span * 0.5];
    else if (ev.key === '0') {
      ev.preventDefault();
      setX(x0, x1, true);
      return;
    }
    // Never zoom in past a few steps.
    const minSpan = (props.step ?? (x1 - x0) / Math.max(1, xs.length)) * 4;
    if (next && next[1] - next[0] < minSpan) next = null;
    if (next) {
      ev.preventDefault();
      setX(next[0], next[1]);
    }
  };

  const points = countPoints(series);
  return (
    <div
      class={'chart' + (props.stale ? ' stale' : '')}
      data-testid={testid}
      data-stale={props.stale ? '1' : undefined}
      aria-busy={props.stale ? 'true' : undefined}
      data-series={series.length}
      data-points={points}
      data-exemplars={exemplars?.length ?? 0}
      data-range-start={x0}
      data-range-end={x1}
      data-step={props.step}
      tabIndex={0}
      aria-label={`${props.label ?? 'Chart'}${props.stale ? ' (previous result, updating)' : ''}: ${series.length} series, ${points} points. Arrow keys pan, + and - zoom, 0 resets; Shift+drag pans, drag zooms.`}
      onKeyDown={onKey}
    >
      <div ref={box} class="chart-plot" />
      {!series.length || !xs.length ? <div class="empty">No data in this range.</div> : null}
    </div>
  );
}
