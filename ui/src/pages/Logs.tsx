import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { formatLabels, getAuth, getJSON, promData, type Labels, type LokiStream, type QueryData } from '../api';
import { Chart } from '../components/Chart';
import { ErrorBox, Loading, TimeRangePicker, Warnings } from '../components/common';
import { QueryEditor } from '../components/QueryEditor';
import { useAsync } from '../hooks';
import { isLogQuery, makeRow, nsString, streamsToRows, type LogRow } from '../logs';
import { href, navigate, paramsObject, type HashParams, type Route } from '../router';
import { alignRange, shortQuery } from '../series';
import { levelColor, useTheme } from '../theme';
import { autoStep, formatDuration, formatTime, rangeFromParams, resolveRange, type TimeRange } from '../time';

const CATEGORIZE = { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' };
const LIMITS = [100, 500, 1000, 5000];

export function LogsPage({ route }: { route: Route }) {
  const p = route.params;
  if (p.get('trace')) return <TraceLogs route={route} />;
  return <LogSearch route={route} />;
}

function LogSearch({ route }: { route: Route }) {
  const p = route.params;
  const query = p.get('query') ?? '';
  const range = rangeFromParams(p);
  const limit = Number(p.get('limit') || 500);
  const forward = p.get('dir') === 'forward';
  const live = p.get('live') === '1';
  const [draft, setDraft] = useState(query);
  const [nonce, setNonce] = useState(0);
  useEffect(() => setDraft(query), [query]);
  const update = (o: HashParams) => navigate('/logs', { ...paramsObject(p), ...o });
  const run = (q: string) => {
    const t = q.trim();
    if (t === query) setNonce((n) => n + 1);
    else update({ query: t });
  };
  const { start, end } = useMemo(() => resolveRange(range), [p.toString(), nonce]); // "now" moves on with every new URL state
  const logQuery = isLogQuery(query);

  const lines = useAsync(
    query && logQuery && !live
      ? async (signal) => {
          const t0 = performance.now();
          const r = await promData<QueryData>(
            '/loki/api/v1/query_range',
            { query, start: nsString(start), end: nsString(end), limit, direction: forward ? 'forward' : 'backward' },
            { signal, headers: CATEGORIZE },
          );
          if (r.data.resultType !== 'streams') throw new Error(`expected streams, got ${r.data.resultType}`);
          return { rows: streamsToRows(r.data.result, forward), limit, warnings: r.warnings, ms: performance.now() - t0 };
        }
      : null,
    [query, start, end, limit, forward, live, nonce],
  );

  const volStep = autoStep(end - start, 80);
  const volume = useAsync(
    query && logQuery && !live
      ? async (signal) => {
          const q = `sum by (detected_level) (count_over_time(${query} [${formatDuration(volStep * 1000)}]))`;
          // Steps counted back from `end`, so the last bar counts the newest lines (steps counted
          // from `start` would leave up to a step's worth of them out).
          const vStart = end - Math.ceil((end - start) / 1000 / volStep) * volStep * 1000;
          const r = await promData<QueryData>('/loki/api/v1/query_range', { query: q, start: nsString(vStart), end: nsString(end), step: volStep }, { signal });
          if (r.data.resultType !== 'matrix') return null;
          const order = ['error', 'warn', 'info', 'debug'];
          const result = [...r.data.result].sort((a, b) => rankLevel(a.metric, order) - rankLevel(b.metric, order));
          // With its own range and step: a previous result stays on screen under them.
          return { ...alignRange(result, vStart / 1000, end / 1000, volStep, (l) => l.detected_level || l.level || 'logs'), start, end, step: volStep };
        }
      : null,
    [query, start, end, volStep, live, nonce],
  );

  const metricStep = autoStep(end - start);
  const metric = useAsync(
    query && !logQuery
      ? async (signal) => {
          const r = await promData<QueryData>('/loki/api/v1/query_range', { query, start: nsString(start), end: nsString(end), step: metricStep }, { signal });
          if (r.data.resultType !== 'matrix') throw new Error(`expected a matrix, got ${r.data.resultType}`);
          return {
            ...alignRange(r.data.result, start / 1000, end / 1000, metricStep, (l) => (Object.keys(l).length ? formatLabels(l) : shortQuery(query))),
            start,
            end,
            step: metricStep,
            warnings: r.warnings,
          };
        }
      : null,
    [query, start, end, metricStep, nonce],
  );

  const theme = useTheme();
  const volSeries = useMemo(
    () => volume.data && { ...volume.data, series: volume.data.series.map((s) => ({ ...s, color: levelColor(s.name, theme) })) },
    [volume.data, theme],
  );

  return (
    <div class="page">
      <h1 class="sr-only">Logs</h1>
      <div class="query-row">
        <QueryEditor
          value={draft}
          onChange={setDraft}
          onRun={run}
          language="logql"
          testid="logql-input"
          label="LogQL query"
          placeholder='LogQL, e.g. {service_name="frontend"} |= "error" | json'
        />
        <button type="button" class="btn primary" onClick={() => run(draft)} data-testid="run-logs">
          Run
        </button>
      </div>
      <div class="toolbar">
        <TimeRangePicker range={range} onChange={(r) => update({ ...r })} onRefresh={() => setNonce((n) => n + 1)} />
        {logQuery && (
          <>
            <label>
              Limit{' '}
              <select value={String(limit)} onChange={(e) => update({ limit: (e.target as HTMLSelectElement).value })} data-testid="logs-limit">
                {LIMITS.map((l) => (
                  <option key={l} value={l}>
                    {l}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Order{' '}
              <select value={forward ? 'forward' : 'backward'} onChange={(e) => update({ dir: (e.target as HTMLSelectElement).value === 'forward' ? 'forward' : undefined })}>
                <option value="backward">Newest first</option>
                <option value="forward">Oldest first</option>
              </select>
            </label>
            <button type="button" class={'btn' + (live ? ' live' : '')} aria-pressed={live} onClick={() => update({ live: !live })} data-testid="live-tail" disabled={!query}>
              {live ? '■ Stop live tail' : '▶ Live tail'}
            </button>
          </>
        )}
        <Loading on={lines.loading || volume.loading || metric.loading} />
      </div>
      {!query && <p class="muted">Enter a LogQL query, e.g. <code>{'{service_name="frontend"}'}</code>, and press Enter.</p>}

      {query && !logQuery && (
        <section aria-label="Metric query">
          <ErrorBox error={metric.error} />
          {metric.data && (
            <>
              <Warnings warnings={metric.data.warnings} />
              <Chart
                testid="logs-metric-chart"
                label="LogQL metric query"
                stale={metric.stale}
                xs={metric.data.xs}
                xRange={[metric.data.start / 1000, metric.data.end / 1000]}
                step={metric.data.step}
                series={metric.data.series}
                onZoom={(a, b) => update({ from: String(a), to: String(b) })}
              />
            </>
          )}
        </section>
      )}

      {query && logQuery && live && <LiveTail query={query} range={range} />}

      {query && logQuery && !live && (
        <>
          <section aria-label="Log volume" class="volume">
            {volume.error && <div class="warning">Volume: {volume.error}</div>}
            {volSeries && (
              <Chart
                testid="logs-volume"
                label="Log volume"
                stale={volume.stale}
                xs={volSeries.xs}
                xRange={[volSeries.start / 1000, volSeries.end / 1000]}
                step={volSeries.step}
                series={volSeries.series}
                bars
                stacked
                height={130}
                onZoom={(a, b) => update({ from: String(a), to: String(b) })}
              />
            )}
          </section>
          <ErrorBox error={lines.error} />
          {lines.data && (
            <>
              <Warnings warnings={lines.data.warnings} />
              <div class={'stats muted' + (lines.stale ? ' stale' : '')} data-testid="logs-stats">
                {lines.data.rows.length} lines{lines.data.rows.length >= lines.data.limit ? ` (limit ${lines.data.limit} reached)` : ''} · {lines.data.ms.toFixed(0)} ms
                {lines.stale ? ' · previous result, updating…' : ''}
              </div>
              <LogList rows={lines.data.rows} range={range} stale={lines.stale} />
            </>
          )}
        </>
      )}
    </div>
  );
}

function rankLevel(l: Labels, order: string[]): number {
  const i = order.indexOf((l.detected_level || l.level || '').toLowerCase());
  return i < 0 ? order.length : i;
}

/** `stale`: the rows are a previous request's, kept (dimmed, data-stale) while a new one loads. */
export function LogList({ rows, range, highlightSpan, stale }: { rows: LogRow[]; range: TimeRange; highlightSpan?: string; stale?: boolean }) {
  const theme = useTheme();
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [show, setShow] = useState(300);
  useEffect(() => setShow(300), [rows]);
  if (!rows.length)
    return (
      <p class={'muted' + (stale ? ' stale' : '')} data-testid="logs-empty" data-stale={stale ? '1' : undefined}>
        No log lines in this range.
      </p>
    );
  const toggle = (k: string) => {
    const n = new Set(open);
    if (n.has(k)) n.delete(k);
    else n.add(k);
    setOpen(n);
  };
  return (
    <div class={'loglist' + (stale ? ' stale' : '')} data-testid="log-lines" data-count={rows.length} data-stale={stale ? '1' : undefined} aria-busy={stale ? 'true' : undefined}>
      {rows.slice(0, show).map((r) => {
        const expanded = open.has(r.key);
        return (
          <div
            key={r.key}
            class={'logrow' + (expanded ? ' expanded' : '') + (highlightSpan && r.spanId === highlightSpan ? ' hl' : '')}
            data-testid="log-line"
            data-trace-id={r.traceId}
            data-span-id={r.spanId}
            style={{ borderLeftColor: levelColor(r.level, theme) }}
          >
            <div class="logrow-main">
              <button type="button" class="expander" aria-expanded={expanded} aria-label={expanded ? 'Hide details' : 'Show details'} onClick={() => toggle(r.key)} data-testid="log-expand">
                {expanded ? '▾' : '▸'}
              </button>
              <time class="ts mono">{formatTime(r.ms, true)}</time>
              {r.level && <span class="level" style={{ color: levelColor(r.level, theme) }}>{r.level}</span>}
              <span class="line mono" onClick={() => toggle(r.key)}>
                {r.line}
              </span>
              {r.traceId && (
                <a class="trace-link" href={href(`/trace/${r.traceId}`, { span: r.spanId, from: range.from, to: range.to })} data-testid="trace-link" title={`Open trace ${r.traceId}`}>
                  trace ↗
                </a>
              )}
            </div>
            {expanded && <LogDetails row={r} range={range} />}
          </div>
        );
      })}
      {rows.length > show && (
        <button type="button" class="btn" onClick={() => setShow(show + 500)}>
          Show more ({rows.length - show} hidden)
        </button>
      )}
    </div>
  );
}

function Fields({ title, labels, testid }: { title: string; labels: Labels; testid: string }) {
  const keys = Object.keys(labels).sort();
  if (!keys.length) return null;
  return (
    <div class="fields" data-testid={testid}>
      <h4>{title}</h4>
      <table class="kv">
        <tbody>
          {keys.map((k) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td class="mono">{labels[k]}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function LogDetails({ row, range }: { row: LogRow; range: TimeRange }) {
  const selector = `{${Object.entries(row.labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;
  return (
    <div class="logdetails">
      <div class="actions">
        {row.traceId && (
          <>
            <a class="btn small" href={href(`/trace/${row.traceId}`, { span: row.spanId, from: range.from, to: range.to })}>
              Open trace {row.traceId.slice(0, 8)}…
            </a>
            <a class="btn small" href={href('/logs', { trace: row.traceId, from: range.from, to: range.to })}>
              All logs of this trace
            </a>
          </>
        )}
        <a class="btn small" href={href('/logs', { query: selector, from: range.from, to: range.to })}>
          This stream only
        </a>
        <span class="muted small mono">{row.ns} ns</span>
      </div>
      <div class="fieldsets">
        <Fields title="Stream labels" labels={row.labels} testid="log-labels" />
        <Fields title="Structured metadata" labels={row.meta} testid="log-metadata" />
        <Fields title="Parsed fields" labels={row.parsed} testid="log-parsed" />
      </div>
      <pre class="mono raw">{prettyLine(row.line)}</pre>
    </div>
  );
}

function prettyLine(line: string): string {
  const t = line.trim();
  if (t.startsWith('{')) {
    try {
      return JSON.stringify(JSON.parse(t), null, 2);
    } catch {
      /* not JSON */
    }
  }
  return line;
}

// ---- live tail -----------------------------------------------------------------------------

const MAX_LIVE = 1000;

function LiveTail({ query, range }: { query: string; range: TimeRange }) {
  const [rows, setRows] = useState<LogRow[]>([]);
  const [status, setStatus] = useState('connecting…');
  const [error, setError] = useState('');
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    setRows([]);
    setError('');
    const add = (fresh: LogRow[]) => {
      if (!fresh.length || pausedRef.current) return;
      setRows((old) => [...fresh, ...old].slice(0, MAX_LIVE));
    };
    // Browsers cannot put an Authorization header on a WebSocket: with credentials the tail
    // polls query_range instead.
    if (getAuth()) return poll(query, add, setStatus, setError);
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}/loki/api/v1/tail?${new URLSearchParams({ query, limit: '100', start: nsString(Date.now() - 10_000) })}`;
    let closedByUs = false;
    const ws = new WebSocket(url);
    ws.onopen = () => setStatus('live (WebSocket)');
    ws.onmessage = (ev) => {
      try {
        const msg = JSON.parse(String(ev.data)) as { streams?: LokiStream[]; dropped_entries?: unknown[] };
        add(streamsToRows(msg.streams ?? []));
        if (msg.dropped_entries && msg.dropped_entries.length) setStatus(`live (WebSocket) · ${msg.dropped_entries.length} entries dropped`);
      } catch (e) {
        setError(`bad tail message: ${(e as Error).message}`);
      }
    };
    ws.onerror = () => setError('the tail WebSocket failed (is the query valid? see nerve’s answer below)');
    ws.onclose = (ev) => {
      if (closedByUs) return;
      setStatus('disconnected');
      if (ev.reason) setError(`tail closed: ${ev.reason}`);
      else {
        // Ask the HTTP API why (a bad query answers 400 with the message).
        getJSON('/loki/api/v1/query', { query, limit: 1 }).catch((e: Error) => setError(e.message));
      }
    };
    return () => {
      closedByUs = true;
      ws.close();
    };
  }, [query]);

  return (
    <section aria-label="Live tail" data-testid="live-panel">
      <div class="toolbar">
        <span class={'badge ' + (status.startsWith('live') ? 'ok' : 'warn')} role="status" data-testid="live-status">
          {status}
        </span>
        <button type="button" class="btn small" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" class="btn small" onClick={() => setRows([])}>
          Clear
        </button>
        <span class="muted small">{rows.length} lines (newest first, last {MAX_LIVE} kept)</span>
      </div>
      <ErrorBox error={error} title="Live tail" />
      <LogList rows={rows} range={range} />
    </section>
  );
}

function poll(query: string, add: (r: LogRow[]) => void, setStatus: (s: string) => void, setError: (s: string) => void): () => void {
  let last = Date.now() - 10_000;
  let stop = false;
  const seen = new Set<string>();
  const tick = async () => {
    if (stop) return;
    try {
      const now = Date.now();
      const r = await promData<QueryData>(
        '/loki/api/v1/query_range',
        { query, start: nsString(last), end: nsString(now), limit: 500, direction: 'forward' },
        { headers: CATEGORIZE },
      );
      if (r.data.resultType === 'streams') {
        const rows = streamsToRows(r.data.result).filter((x) => !seen.has(x.key));
        rows.forEach((x) => seen.add(x.key));
        if (seen.size > 5000) seen.clear();
        add(rows);
        if (rows.length) last = Math.max(last, rows[0].ms - 1);
      }
      setStatus('live (polling every 2 s)');
      setError('');
    } catch (e) {
      setError((e as Error).message);
    }
    if (!stop) window.setTimeout(tick, 2000);
  };
  tick();
  return () => {
    stop = true;
  };
}

// ---- logs of a trace (the nerve endpoint) --------------------------------------------------

interface TraceLogLine {
  timestamp: string;
  labels: Labels;
  line: string;
  metadata: Labels;
}

function TraceLogs({ route }: { route: Route }) {
  const p = route.params;
  const traceId = (p.get('trace') ?? '').toLowerCase();
  const span = p.get('span') ?? '';
  const range = rangeFromParams(p);
  const [nonce, setNonce] = useState(0);
  const { start, end } = useMemo(() => resolveRange(range), [p.toString(), nonce]); // "now" moves on with every new URL state
  const update = (o: HashParams) => navigate('/logs', { ...paramsObject(p), ...o });
  const res = useAsync(
    async (signal) => {
      const r = await promData<{ traceId: string; lines: TraceLogLine[] }>(
        `/nerve/api/v1/traces/${encodeURIComponent(traceId)}/logs`,
        { start: nsString(start), end: nsString(end), limit: 1000 },
        { signal },
      );
      // The endpoint finds lines by trace id; every row carries it even when the line's own
      // field is spelled differently.
      const rows = r.data.lines.map((l) => {
        const row = makeRow(l.timestamp, l.line, l.labels, l.metadata);
        return row.traceId ? row : { ...row, traceId };
      });
      return { traceId, rows };
    },
    [traceId, start, end, nonce],
  );
  // Another trace's lines are no stand-in for this one's: only a new range of the same trace
  // keeps the previous lines (dimmed) while loading.
  const data = res.data?.traceId === traceId ? res.data : undefined;
  const rows = data?.rows ?? [];
  const shown = span ? rows.filter((r) => r.spanId === span) : rows;
  return (
    <div class="page">
      <h1>
        Logs of trace <span class="mono">{traceId}</span>
        {span && (
          <>
            {' '}
            · span <span class="mono">{span}</span>
          </>
        )}
      </h1>
      <div class="toolbar">
        <TimeRangePicker range={range} onChange={(r) => update({ ...r })} onRefresh={() => setNonce((n) => n + 1)} />
        <a class="btn" href={href(`/trace/${traceId}`, { span, from: range.from, to: range.to })} data-testid="back-to-trace">
          ← Trace
        </a>
        {span && (
          <button type="button" class="btn" onClick={() => update({ span: undefined })} data-testid="whole-trace-logs">
            All spans ({rows.length})
          </button>
        )}
        <a class="btn" href={href('/logs', { query: `{service_name=~".+"} | trace_id="${traceId}"`, from: range.from, to: range.to })}>
          As a LogQL query
        </a>
        <Loading on={res.loading} />
      </div>
      <ErrorBox error={res.error} />
      {data && (
        <>
          <div class={'stats muted' + (res.stale ? ' stale' : '')} data-testid="trace-logs-stats">
            {shown.length} lines{span ? ` of this span (${rows.length} in the trace)` : ''}
            {res.stale ? ' · previous range, updating…' : ''}
          </div>
          {span && !shown.length && rows.length > 0 && <p class="muted">No line names this span; showing the whole trace’s lines below.</p>}
          <LogList rows={span && !shown.length ? rows : shown} range={range} highlightSpan={span} stale={res.stale} />
        </>
      )}
    </div>
  );
}
