// RED panel of a service (optionally one operation) from Tempo-style span metrics: request
// rate, error ratio and duration percentiles.
import { useMemo, useState } from 'preact/hooks';
import { promData, type QueryData } from '../api';
import { Chart } from '../components/Chart';
import { ErrorBox, Loading, TimeRangePicker } from '../components/common';
import { useAsync, type Async } from '../hooks';
import { href, navigate, paramsObject, type HashParams, type Route } from '../router';
import { alignRange, type Aligned } from '../series';
import { autoStep, formatSpanDuration, rangeFromParams, rateWindow, resolveRange } from '../time';

const CALLS = 'traces_spanmetrics_calls_total';
const LATENCY = 'traces_spanmetrics_latency_bucket';

const q = (v: string) => JSON.stringify(v);

type Ranged = Aligned & { subject: string; xRange: [number, number]; step: number };

/**
 * A result to draw: the current one, or the previous one of the same subject (another range)
 * while the new one loads. Another service's or operation's charts are not kept under this
 * one's heading.
 */
function shown(a: Async<Ranged>, subject: string): Ranged | undefined {
  return a.data && a.data.subject === subject ? a.data : undefined;
}

export function redQueries(service: string, spanName: string, w: string) {
  const sel = `service=${q(service)}${spanName ? `, span_name=${q(spanName)}` : ''}`;
  return {
    rate: spanName ? `sum(rate(${CALLS}{${sel}}[${w}]))` : `sum by (span_name) (rate(${CALLS}{${sel}}[${w}]))`,
    errors: `(sum(rate(${CALLS}{${sel}, status_code="STATUS_CODE_ERROR"}[${w}])) or vector(0)) / sum(rate(${CALLS}{${sel}}[${w}]))`,
    duration: [0.5, 0.95, 0.99].map((x) => `histogram_quantile(${x}, sum by (le) (rate(${LATENCY}{${sel}}[${w}])))`),
  };
}

export function RedPage({ route }: { route: Route }) {
  const p = route.params;
  const service = p.get('service') ?? '';
  const spanName = p.get('span_name') ?? '';
  const range = rangeFromParams(p);
  const [nonce, setNonce] = useState(0);
  const update = (o: HashParams) => navigate('/red', { ...paramsObject(p), ...o });
  const { start, end } = useMemo(() => resolveRange(range), [p.toString(), nonce]); // "now" moves on with every new URL state
  const step = autoStep(end - start, 200);
  const w = rateWindow(step);
  const queries = service ? redQueries(service, spanName, w) : null;
  const subject = `${service}\u0000${spanName}`; // what the charts are of

  const services = useAsync(
    (signal) => promData<string[]>('/api/v1/label/service/values', { 'match[]': [CALLS] }, { signal }).then((r) => r.data),
    [],
  );
  const spanNames = useAsync(
    service ? (signal) => promData<string[]>('/api/v1/label/span_name/values', { 'match[]': [`${CALLS}{service=${q(service)}}`] }, { signal }).then((r) => r.data) : null,
    [service],
  );

  // Each result carries its own range and step: a previous one stays on screen under them
  // (dimmed) while the next loads, never under the URL's new range.
  const range_ = async (query: string, signal: AbortSignal): Promise<Ranged> => {
    const r = await promData<QueryData>('/api/v1/query_range', { query, start: start / 1000, end: end / 1000, step }, { signal });
    if (r.data.resultType !== 'matrix') throw new Error(`unexpected ${r.data.resultType}`);
    return { ...alignRange(r.data.result, start / 1000, end / 1000, step, (l) => l.span_name || (spanName ? spanName : service)), subject, xRange: [start / 1000, end / 1000], step };
  };
  const rate = useAsync(queries ? (s) => range_(queries.rate, s) : null, [queries?.rate, start, end, step, nonce]);
  const errors = useAsync(
    queries
      ? async (s) => {
          const a = await range_(queries.errors, s);
          return { ...a, series: a.series.map((x) => ({ ...x, name: 'error ratio' })) };
        }
      : null,
    [queries?.errors, start, end, step, nonce],
  );
  const duration = useAsync(
    queries
      ? async (s) => {
          const parts = await Promise.all(queries.duration.map((d) => range_(d, s)));
          // Merge p50/p95/p99 on one time axis.
          const ts = [...new Set(parts.flatMap((x) => x.xs))].sort((a, b) => a - b);
          const idx = new Map(ts.map((t, i) => [t, i]));
          const series = parts.map((part, i) => {
            const values: (number | null)[] = new Array(ts.length).fill(null);
            const src = part.series[0];
            if (src) part.xs.forEach((t, j) => (values[idx.get(t)!] = src.values[j]));
            return { name: ['p50', 'p95', 'p99'][i], values };
          });
          return { xs: ts, series: series.some((x) => x.values.some((v) => v !== null)) ? series : [], labels: [], subject, xRange: parts[0].xRange, step: parts[0].step };
        }
      : null,
    [queries?.duration.join('|'), start, end, step, nonce],
  );

  const zoom = (a: number, b: number) => update({ from: String(a), to: String(b) });
  const rateData = shown(rate, subject);
  const errorsData = shown(errors, subject);
  const durationData = shown(duration, subject);
  const metricsLink = (query: string) => href('/metrics', { query, from: range.from, to: range.to });

  return (
    <div class="page">
      <h1>
        RED{service ? `: ${service}` : ''}
        {spanName ? ` / ${spanName}` : ''}
      </h1>
      <div class="toolbar">
        <label>
          Service{' '}
          <select value={service} onChange={(e) => update({ service: (e.target as HTMLSelectElement).value, span_name: undefined })} data-testid="red-service">
            <option value="">— choose —</option>
            {(services.data ?? []).map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Operation{' '}
          <select value={spanName} onChange={(e) => update({ span_name: (e.target as HTMLSelectElement).value })} data-testid="red-operation">
            <option value="">all</option>
            {(spanNames.data ?? []).map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <TimeRangePicker range={range} onChange={(r) => update({ ...r })} onRefresh={() => setNonce((n) => n + 1)} />
        {service && (
          <>
            <a class="btn" href={href('/traces', { service, operation: spanName, from: range.from, to: range.to })}>
              Traces
            </a>
            <a class="btn" href={href('/traces', { service, operation: spanName, tags: 'error=true', from: range.from, to: range.to })}>
              Error traces
            </a>
            <a class="btn" href={href('/logs', { query: `{service_name=${q(service)}}`, from: range.from, to: range.to })}>
              Logs
            </a>
          </>
        )}
        <Loading on={rate.loading || errors.loading || duration.loading} />
      </div>
      <ErrorBox error={services.error} title="Services" />
      <ErrorBox error={spanNames.error} title="Operations" />
      {!service && <p class="muted">Choose a service (from span metrics) to see its request rate, errors and duration.</p>}
      {queries && (
        <div class="red-grid">
          <section class="panel">
            <h2>
              Rate <span class="muted small">requests/s, window {w}</span> <a class="small" href={metricsLink(queries.rate)}>query ↗</a>
            </h2>
            <ErrorBox error={rate.error} />
            {!rateData && rate.loading && <ChartLoading />}
            {rateData && <Chart testid="red-rate" label="Request rate" stale={rate.stale} xs={rateData.xs} xRange={rateData.xRange} step={rateData.step} series={rateData.series} height={200} onZoom={zoom} />}
          </section>
          <section class="panel">
            <h2>
              Errors <span class="muted small">share of calls with error status</span> <a class="small" href={metricsLink(queries.errors)}>query ↗</a>
            </h2>
            <ErrorBox error={errors.error} />
            {!errorsData && errors.loading && <ChartLoading />}
            {errorsData && (
              <Chart
                testid="red-errors"
                label="Error ratio"
                stale={errors.stale}
                xs={errorsData.xs}
                xRange={errorsData.xRange}
                step={errorsData.step}
                series={errorsData.series}
                height={200}
                onZoom={zoom}
                yFormat={(v) => `${+(v * 100).toPrecision(3)}%`}
              />
            )}
          </section>
          <section class="panel">
            <h2>
              Duration <span class="muted small">p50 / p95 / p99</span> <a class="small" href={metricsLink(queries.duration[1])}>query ↗</a>
            </h2>
            <ErrorBox error={duration.error} />
            {!durationData && duration.loading && <ChartLoading />}
            {durationData && (
              <Chart
                testid="red-duration"
                label="Duration percentiles"
                stale={duration.stale}
                xs={durationData.xs}
                xRange={durationData.xRange}
                step={durationData.step}
                series={durationData.series}
                height={200}
                onZoom={zoom}
                yFormat={(v) => formatSpanDuration(v * 1000)}
              />
            )}
          </section>
        </div>
      )}
    </div>
  );
}

/** Holds a panel's height while its first chart (or another service's) loads. */
function ChartLoading() {
  return (
    <div class="chart-loading" aria-busy="true">
      <Loading on />
    </div>
  );
}
