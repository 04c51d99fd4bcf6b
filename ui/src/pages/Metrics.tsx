import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatLabels, getJSON, promData, type ExemplarSeries, type QueryData } from '../api';
import { Chart } from '../components/Chart';
import { ErrorBox, Loading, Tabs, TimeRangePicker, Warnings } from '../components/common';
import { QueryEditor } from '../components/QueryEditor';
import { useAsync } from '../hooks';
import { navigate, paramsObject, type HashParams, type Route } from '../router';
import { alignRange, shortQuery, toChartExemplars } from '../series';
import { autoStep, formatDuration, formatTime, parseDuration, rangeFromParams, resolveRange } from '../time';

type Tab = 'graph' | 'table';

export function MetricsPage({ route }: { route: Route }) {
  const p = route.params;
  const query = p.get('query') ?? '';
  const tab: Tab = p.get('tab') === 'table' ? 'table' : 'graph';
  const range = rangeFromParams(p);
  const stepParam = p.get('step') ?? '';
  const showEx = p.get('exemplars') !== '0';
  const [draft, setDraft] = useState(query);
  const [stepDraft, setStepDraft] = useState(stepParam);
  const [nonce, setNonce] = useState(0);
  const [fmtError, setFmtError] = useState('');
  useEffect(() => setDraft(query), [query]);
  useEffect(() => setStepDraft(stepParam), [stepParam]);

  const update = (o: HashParams) => navigate('/metrics', { ...paramsObject(p), ...o });
  const run = (q: string) => {
    const t = q.trim();
    if (t === query) setNonce((n) => n + 1);
    else update({ query: t });
  };

  const { start, end } = useMemo(() => resolveRange(range), [p.toString(), nonce]); // "now" moves on with every new URL state
  const stepS = stepParam && isFinite(parseDuration(stepParam)) ? parseDuration(stepParam) / 1000 : autoStep(end - start);

  const graph = useAsync(
    query && tab === 'graph'
      ? async (signal) => {
          const t0 = performance.now();
          const params = { query, start: start / 1000, end: end / 1000, step: stepS };
          const exP = showEx
            ? promData<ExemplarSeries[]>('/api/v1/query_exemplars', { query, start: start / 1000, end: end / 1000 }, { signal }).then(
                (r) => ({ ex: r.data ?? [], exError: '' }),
                (e: Error) => ({ ex: [] as ExemplarSeries[], exError: e.message }),
              )
            : Promise.resolve({ ex: [] as ExemplarSeries[], exError: '' });
          const [r, ex] = await Promise.all([promData<QueryData>('/api/v1/query_range', params, { signal }), exP]);
          if (r.data.resultType !== 'matrix') throw new Error(`expected a range vector result, got ${r.data.resultType}`);
          // Series without labels (an aggregation to one series) are named by the query.
          const aligned = alignRange(r.data.result, params.start, params.end, stepS, (l) => (Object.keys(l).length ? formatLabels(l) : shortQuery(query)));
          // The result carries its own range and step: while the next one loads it stays on
          // screen under them, not under the URL's new ones.
          return { ...aligned, start, end, step: stepS, exemplars: toChartExemplars(ex.ex, aligned.labels), exError: ex.exError, warnings: r.warnings, ms: performance.now() - t0 };
        }
      : null,
    [query, tab, start, end, stepS, showEx, nonce],
  );

  const table = useAsync(
    query && tab === 'table'
      ? async (signal) => {
          const t0 = performance.now();
          const r = await promData<QueryData>('/api/v1/query', { query, time: end / 1000 }, { signal });
          return { data: r.data, time: end, warnings: r.warnings, ms: performance.now() - t0 };
        }
      : null,
    [query, tab, end, nonce],
  );

  const format = async () => {
    setFmtError('');
    try {
      const r = await getJSON<{ data: string }>('/api/v1/format_query', { query: draft });
      setDraft(r.data);
    } catch (e) {
      setFmtError((e as Error).message);
    }
  };

  const g = graph.data;
  const points = g ? g.series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0) : 0;

  return (
    <div class="page">
      <h1 class="sr-only">Metrics</h1>
      <div class="query-row">
        <QueryEditor
          value={draft}
          onChange={setDraft}
          onRun={run}
          language="promql"
          testid="promql-input"
          label="PromQL query"
          placeholder="PromQL, e.g. sum by (service) (rate(traces_spanmetrics_calls_total[5m]))"
        />
        <button type="button" class="btn primary" onClick={() => run(draft)} data-testid="run-query">
          Run
        </button>
        <button type="button" class="btn" onClick={format} title="Format with /api/v1/format_query" data-testid="format-query">
          Format
        </button>
      </div>
      <ErrorBox error={fmtError} title="Format" />
      <div class="toolbar">
        <Tabs<Tab> value={tab} options={[['graph', 'Graph'], ['table', 'Table']]} onChange={(t) => update({ tab: t === 'graph' ? undefined : t })} testid="tab" />
        <TimeRangePicker range={range} onChange={(r) => update({ ...r })} onRefresh={() => setNonce((n) => n + 1)} />
        {tab === 'graph' && (
          <>
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                update({ step: stepDraft.trim() || undefined });
              }}
            >
              <label>
                Step{' '}
                <input
                  class="short"
                  value={stepDraft}
                  placeholder={`auto (${formatDuration(stepS * 1000)})`}
                  onInput={(e) => setStepDraft((e.target as HTMLInputElement).value)}
                  onBlur={() => stepDraft.trim() !== stepParam && update({ step: stepDraft.trim() || undefined })}
                  data-testid="step-input"
                />
              </label>
            </form>
            <label class="check">
              <input type="checkbox" checked={showEx} onChange={(e) => update({ exemplars: (e.target as HTMLInputElement).checked ? undefined : '0' })} data-testid="exemplars-toggle" />
              Exemplars
            </label>
          </>
        )}
        <Loading on={graph.loading || table.loading} />
      </div>

      {!query && <p class="muted">Enter a PromQL expression and press Enter (or Ctrl/Cmd+Enter) to run it.</p>}

      {tab === 'graph' && query && (
        <section aria-label="Graph">
          <ErrorBox error={graph.error} />
          {g && (
            <>
              <Warnings warnings={g.warnings} />
              {g.exError && <div class="warning">Exemplars: {g.exError}</div>}
              <div class={'stats muted' + (graph.stale ? ' stale' : '')} data-testid="graph-stats">
                {g.series.length} series · {points} points · {g.exemplars.length} exemplars · step {formatDuration(g.step * 1000)} · {g.ms.toFixed(0)} ms
                {graph.stale ? ' · previous result, updating…' : ''}
              </div>
              <Chart
                testid="metrics-chart"
                label="Query result"
                stale={graph.stale}
                xs={g.xs}
                xRange={[g.start / 1000, g.end / 1000]}
                step={g.step}
                series={g.series}
                exemplars={g.exemplars}
                height={340}
                onZoom={(a, b) => update({ from: String(a), to: String(b) })}
                onExemplar={(e) => navigate(`/trace/${e.traceId}`, { span: e.spanId, from: range.from, to: range.to })}
              />
              {g.exemplars.length > 0 && <p class="muted small">Diamonds are exemplars: click one (or focus it and press Enter) to open its trace.</p>}
            </>
          )}
        </section>
      )}

      {tab === 'table' && query && (
        <section aria-label="Table">
          <ErrorBox error={table.error} />
          {table.data && (
            <>
              <Warnings warnings={table.data.warnings} />
              <div class={'stats muted' + (table.stale ? ' stale' : '')}>
                Evaluated at {formatTime(table.data.time)} · {table.data.ms.toFixed(0)} ms
                {table.stale ? ' · previous result, updating…' : ''}
              </div>
              <div class={table.stale ? 'stale' : undefined} aria-busy={table.stale ? 'true' : undefined} data-stale={table.stale ? '1' : undefined}>
                <ResultTable data={table.data.data} />
              </div>
            </>
          )}
        </section>
      )}
    </div>
  );
}

const MAX_ROWS = 1000;

function ResultTable({ data }: { data: QueryData }) {
  if (data.resultType === 'scalar' || data.resultType === 'string') {
    return (
      <table class="grid" data-testid="result-table" data-rows={1}>
        <tbody>
          <tr>
            <th scope="row">{data.resultType}</th>
            <td class="num">{data.result[1]}</td>
          </tr>
        </tbody>
      </table>
    );
  }
  if (data.resultType === 'vector') {
    const rows = data.result;
    return (
      <>
        <table class="grid" data-testid="result-table" data-rows={rows.length}>
          <thead>
            <tr>
              <th>Series</th>
              <th class="num">Value</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, MAX_ROWS).map((r, i) => (
              <tr key={i}>
                <td class="mono">{formatLabels(r.metric)}</td>
                <td class="num mono">{r.value[1]}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!rows.length && <p class="muted">Empty result.</p>}
        {rows.length > MAX_ROWS && <p class="muted">Showing {MAX_ROWS} of {rows.length} series.</p>}
      </>
    );
  }
  if (data.resultType === 'matrix') {
    const rows = data.result;
    return (
      <table class="grid" data-testid="result-table" data-rows={rows.length}>
        <thead>
          <tr>
            <th>Series</th>
            <th>Values</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, MAX_ROWS).map((r, i) => (
            <tr key={i}>
              <td class="mono">{formatLabels(r.metric)}</td>
              <td class="mono small">
                {(r.values ?? []).slice(-50).map(([t, v]) => (
                  <div key={t}>
                    {v} @ {formatTime(t * 1000, true)}
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }
  return <p class="muted">Unsupported result type.</p>;
}
