import { useEffect, useMemo, useState } from 'preact/hooks';
import { getJSON } from '../api';
import { ErrorBox, Loading, Tabs, TimeRangePicker } from '../components/common';
import { QueryEditor } from '../components/QueryEditor';
import { TraceScatter } from '../components/Scatter';
import { useAsync } from '../hooks';
import { href, navigate, paramsObject, type HashParams, type Route } from '../router';
import { serviceColor, useTheme } from '../theme';
import { formatSpanDuration, formatTime, parseDuration, rangeFromParams, resolveRange } from '../time';
import { summarizeJaeger, summarizeTempo, tagsToJSON, type JaegerTrace, type TempoSearchTrace, type TraceSummary } from '../traces';

type Mode = 'search' | 'traceql';
type Sort = 'recent' | 'longest' | 'spans' | 'errors';

export function TracesPage({ route }: { route: Route }) {
  const p = route.params;
  const mode: Mode = p.get('mode') === 'traceql' ? 'traceql' : 'search';
  const range = rangeFromParams(p);
  const service = p.get('service') ?? '';
  const operation = p.get('operation') ?? '';
  const tags = p.get('tags') ?? '';
  const minD = p.get('minDuration') ?? '';
  const maxD = p.get('maxDuration') ?? '';
  const limit = Number(p.get('limit') || 20);
  const q = p.get('q') ?? '';
  const sort = (p.get('sort') as Sort) || 'recent';
  const [nonce, setNonce] = useState(0);
  const update = (o: HashParams) => navigate('/traces', { ...paramsObject(p), ...o });
  const { start, end } = useMemo(() => resolveRange(range), [range.from, range.to, nonce, mode, service, operation, tags, minD, maxD, limit, q]);

  // Form drafts (committed to the URL on submit).
  const [f, setF] = useState({ service, operation, tags, minD, maxD, limit: String(limit) });
  const [qDraft, setQDraft] = useState(q);
  useEffect(() => setF({ service, operation, tags, minD, maxD, limit: String(limit) }), [service, operation, tags, minD, maxD, limit]);
  useEffect(() => setQDraft(q), [q]);

  const services = useAsync((signal) => getJSON<{ data: string[] | null }>('/jaeger/api/services', undefined, { signal }).then((r) => r.data ?? []), []);
  const operations = useAsync(
    f.service ? (signal) => getJSON<{ data: string[] | null }>(`/jaeger/api/services/${encodeURIComponent(f.service)}/operations`, undefined, { signal }).then((r) => r.data ?? []) : null,
    [f.service],
  );

  // Results carry the range they were searched in: the scatter's x axis while they are shown,
  // also while the next search (another range) loads.
  const results = useAsync<{ traces: TraceSummary[]; startMs: number; endMs: number }>(
    mode === 'search' && service
      ? async (signal) => {
          for (const [name, v] of [['min duration', minD], ['max duration', maxD]]) {
            if (v && !isFinite(parseDuration(v))) throw new Error(`${name} "${v}" is not a duration (e.g. 100ms, 1.5s)`);
          }
          const r = await getJSON<{ data: JaegerTrace[] | null }>(
            '/jaeger/api/traces',
            {
              service,
              operation,
              tags: tagsToJSON(tags),
              minDuration: minD,
              maxDuration: maxD,
              start: Math.floor(start * 1000),
              end: Math.ceil(end * 1000),
              limit,
            },
            { signal },
          );
          return { traces: (r.data ?? []).map(summarizeJaeger), startMs: start, endMs: end };
        }
      : mode === 'traceql' && q
        ? async (signal) => {
            const r = await getJSON<{ traces: TempoSearchTrace[] | null }>(
              '/tempo/api/search',
              { q, start: Math.floor(start / 1000), end: Math.ceil(end / 1000), limit },
              { signal },
            );
            return { traces: (r.traces ?? []).map(summarizeTempo), startMs: start, endMs: end };
          }
        : null,
    [mode, service, operation, tags, minD, maxD, limit, q, start, end, nonce],
  );

  const submit = (e: Event) => {
    e.preventDefault();
    const next = { service: f.service, operation: f.operation, tags: f.tags.trim(), minDuration: f.minD.trim(), maxDuration: f.maxD.trim(), limit: f.limit };
    if (next.service === service && next.operation === operation && next.tags === tags && next.minDuration === minD && next.maxDuration === maxD && Number(f.limit) === limit) setNonce((n) => n + 1);
    else update(next);
  };
  const runQl = (v: string) => {
    if (v.trim() === q) setNonce((n) => n + 1);
    else update({ q: v.trim() });
  };

  const sorted = useMemo(() => {
    const xs = [...(results.data?.traces ?? [])];
    if (sort === 'recent') xs.sort((a, b) => b.startMs - a.startMs);
    if (sort === 'longest') xs.sort((a, b) => b.durationMs - a.durationMs);
    if (sort === 'spans') xs.sort((a, b) => b.spanCount - a.spanCount);
    if (sort === 'errors') xs.sort((a, b) => b.errorCount - a.errorCount);
    return xs;
  }, [results.data, sort]);

  return (
    <div class="page">
      <h1 class="sr-only">Traces</h1>
      <div class="toolbar">
        <Tabs<Mode> value={mode} options={[['search', 'Search'], ['traceql', 'TraceQL']]} onChange={(m) => update({ mode: m === 'search' ? undefined : m })} testid="traces-mode" />
        <TimeRangePicker range={range} onChange={(r) => update({ ...r })} onRefresh={() => setNonce((n) => n + 1)} />
        <a class="btn" href={href('/service-graph', { from: range.from, to: range.to })}>
          Service graph
        </a>
        {service && (
          <a class="btn" href={href('/red', { service, from: range.from, to: range.to })} data-testid="service-red">
            RED of {service}
          </a>
        )}
        <Loading on={results.loading} />
      </div>

      {mode === 'search' ? (
        <form class="search-form" onSubmit={submit} data-testid="trace-search-form">
          <label>
            Service
            <select value={f.service} onChange={(e) => setF({ ...f, service: (e.target as HTMLSelectElement).value, operation: '' })} data-testid="trace-service">
              <option value="">— choose —</option>
              {(services.data ?? []).map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Operation
            <select value={f.operation} onChange={(e) => setF({ ...f, operation: (e.target as HTMLSelectElement).value })} data-testid="trace-operation">
              <option value="">all</option>
              {(operations.data ?? []).map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label class="grow">
            Tags
            <input value={f.tags} placeholder='error=true http.route="/checkout"' onInput={(e) => setF({ ...f, tags: (e.target as HTMLInputElement).value })} data-testid="trace-tags" />
          </label>
          <label>
            Min duration
            <input class="short" value={f.minD} placeholder="100ms" onInput={(e) => setF({ ...f, minD: (e.target as HTMLInputElement).value })} data-testid="trace-min" />
          </label>
          <label>
            Max duration
            <input class="short" value={f.maxD} placeholder="5s" onInput={(e) => setF({ ...f, maxD: (e.target as HTMLInputElement).value })} data-testid="trace-max" />
          </label>
          <label>
            Limit
            <input class="short" type="number" min="1" max="1000" value={f.limit} onInput={(e) => setF({ ...f, limit: (e.target as HTMLInputElement).value })} />
          </label>
          <button type="submit" class="btn primary" disabled={!f.service} data-testid="trace-search">
            Find traces
          </button>
          <ErrorBox error={services.error} title="Services" />
          <ErrorBox error={operations.error} title="Operations" />
        </form>
      ) : (
        <div class="query-row">
          <QueryEditor
            value={qDraft}
            onChange={setQDraft}
            onRun={runQl}
            language="traceql"
            testid="traceql-input"
            label="TraceQL query"
            placeholder='TraceQL, e.g. { resource.service.name = "payments" && status = error }'
          />
          <button type="button" class="btn primary" onClick={() => runQl(qDraft)} data-testid="traceql-run">
            Run
          </button>
        </div>
      )}

      {mode === 'search' && !service && <p class="muted">Pick a service and press “Find traces”, or switch to TraceQL.</p>}
      <ErrorBox error={results.error} />
      {results.data && (
        <section aria-label="Trace results" aria-busy={results.stale ? 'true' : undefined} data-testid="trace-section" data-stale={results.stale ? '1' : undefined}>
          <div class="toolbar">
            <span class="stats muted" data-testid="trace-count">
              {sorted.length} traces{results.stale ? ' · previous search, updating…' : ''}
            </span>
            <label>
              Sort{' '}
              <select value={sort} onChange={(e) => update({ sort: (e.target as HTMLSelectElement).value })}>
                <option value="recent">Most recent</option>
                <option value="longest">Longest first</option>
                <option value="spans">Most spans</option>
                <option value="errors">Most errors</option>
              </select>
            </label>
          </div>
          <div class={results.stale ? 'stale' : undefined}>
            <TraceScatter traces={sorted} from={range.from} to={range.to} startMs={results.data.startMs} endMs={results.data.endMs} />
            <TraceList traces={sorted} from={range.from} to={range.to} />
          </div>
        </section>
      )}
    </div>
  );
}

function TraceList({ traces, from, to }: { traces: TraceSummary[]; from: string; to: string }) {
  const theme = useTheme();
  if (!traces.length) return <p class="muted">No traces match.</p>;
  const max = Math.max(...traces.map((t) => t.durationMs), 0.001);
  return (
    <ul class="tracelist" data-testid="trace-results">
      {traces.map((t) => (
        <li key={t.traceId} class="traceitem">
          <a href={href(`/trace/${t.traceId}`, { from, to })} data-testid="trace-result" data-trace-id={t.traceId}>
            <div class="traceitem-head">
              <strong>
                {t.rootService}: {t.rootName}
              </strong>
              <span class="mono muted small">{t.traceId.slice(0, 16)}</span>
              <span class="muted small">{formatTime(t.startMs)}</span>
            </div>
            <div class="traceitem-bar">
              <span class="durbar" style={{ width: `${Math.max(1, (t.durationMs / max) * 100)}%` }} />
              <span class="mono small">{formatSpanDuration(t.durationMs)}</span>
            </div>
            <div class="traceitem-tags">
              <span class="small">{t.spanCount} spans</span>
              {t.errorCount > 0 && <span class="badge err small">{t.errorCount} errors</span>}
              {t.services.map((s) => (
                <span key={s.name} class="svc small" style={{ borderColor: serviceColor(s.name, theme) }}>
                  {s.name} ({s.spans})
                </span>
              ))}
            </div>
          </a>
        </li>
      ))}
    </ul>
  );
}
