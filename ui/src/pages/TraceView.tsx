import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ErrorBox, KV, Loading } from '../components/common';
import { useAsync, useEscape } from '../hooks';
import { href, navigate, paramsObject, type Route } from '../router';
import { seriesColor, useTheme } from '../theme';
import { formatSpanDuration, formatTime } from '../time';
import { fetchTrace, spanTree, type Span } from '../traces';

export function TraceView({ route }: { route: Route }) {
  const traceId = (route.segments[1] ?? '').toLowerCase();
  const p = route.params;
  const selected = p.get('span') ?? '';
  const theme = useTheme();
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const scrolled = useRef(false);
  const res = useAsync(async (signal) => ({ id: traceId, spans: await fetchTrace(traceId, signal) }), [traceId]);
  // The previous trace's spans (while the next one loads) are never drawn under this one's id.
  const loadedId = res.data?.id === traceId ? traceId : '';
  const spans = (loadedId && res.data?.spans) || [];
  useEffect(() => {
    setCollapsed(new Set());
    scrolled.current = false;
  }, [traceId]);

  // Links keep the page's range; without one, a window around the trace.
  const summary = useMemo(() => {
    if (!spans.length) return null;
    const start = Math.min(...spans.map((s) => s.startMs));
    const end = Math.max(...spans.map((s) => s.endMs));
    const services = [...new Set(spans.map((s) => s.service))].sort();
    const errors = spans.filter((s) => s.status.code === 'error').length;
    const ids = new Set(spans.map((s) => s.spanId));
    const root = spans.find((s) => !s.parentId || !ids.has(s.parentId)) ?? spans[0];
    return { start, end, duration: end - start, services, errors, root };
  }, [spans]);
  // Distinct colours for the services of this trace.
  const colorOf = useMemo(() => {
    const m = new Map((summary?.services ?? []).map((s, i) => [s, seriesColor(i === 6 ? 7 : i, theme)]));
    return (s: string) => m.get(s) ?? 'gray';
  }, [summary, theme]);
  const range = {
    from: p.get('from') || (summary ? String(Math.floor(summary.start - 300_000)) : 'now-1h'),
    to: p.get('to') || (summary ? String(Math.ceil(summary.end + 300_000)) : 'now'),
  };

  const rows = useMemo(() => spanTree(spans, collapsed), [spans, collapsed]);
  const select = (id: string) => navigate(`/trace/${traceId}`, { ...paramsObject(p), span: id || undefined }, true);
  const sel = spans.find((s) => s.spanId === selected) ?? null;
  useEscape(sel ? () => select('') : null);

  const toggle = (id: string) => {
    const n = new Set(collapsed);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    setCollapsed(n);
  };

  // Scroll the selected span (e.g. from an exemplar or a log line) into view once loaded.
  useEffect(() => {
    if (scrolled.current || !selected || !spans.length) return;
    scrolled.current = true;
    document.querySelector(`[data-span-id="${selected}"]`)?.scrollIntoView({ block: 'center' });
  }, [spans, selected]);

  return (
    <div class="page trace-page">
      <div class="trace-head">
        <h1>
          {summary ? (
            <>
              <span style={{ color: colorOf(summary.root.service) }}>{summary.root.service}</span>: {summary.root.name}
            </>
          ) : (
            'Trace'
          )}{' '}
          <span class="mono muted small" data-testid="trace-id">
            {traceId}
          </span>
        </h1>
        {summary && (
          <div class="trace-meta">
            <span>Started {formatTime(summary.start, true)}</span>
            <span>Duration {formatSpanDuration(summary.duration)}</span>
            <span>{spans.length} spans</span>
            <span>{summary.services.length} services</span>
            {summary.errors > 0 && <span class="badge err">{summary.errors} errors</span>}
            <a class="btn small" href={href('/logs', { trace: traceId, from: range.from, to: range.to })} data-testid="trace-logs">
              Logs of this trace
            </a>
            <a class="btn small" href={href('/traces', { from: range.from, to: range.to, service: summary.root.service })}>
              Search {summary.root.service}
            </a>
          </div>
        )}
      </div>
      <Loading on={res.loading} />
      <ErrorBox error={res.error} title={`Trace ${traceId}`} />
      {summary && (
        <div class={'trace-body' + (sel ? ' with-details' : '')}>
          <div class="waterfall" role="table" aria-label="Span waterfall" data-testid="waterfall" data-spans={spans.length} data-trace-id={loadedId}>
            <div class="wf-row wf-header" role="row">
              <div class="wf-name" role="columnheader">
                Service / operation
              </div>
              <div class="wf-timeline" role="columnheader">
                {[0, 0.25, 0.5, 0.75, 1].map((f) => (
                  <span key={f} class="tick" style={{ left: `${f * 100}%` }}>
                    {formatSpanDuration(summary.duration * f)}
                  </span>
                ))}
              </div>
            </div>
            {rows.map(({ span: s, depth, hasChildren }) => {
              const left = ((s.startMs - summary.start) / (summary.duration || 1)) * 100;
              const width = Math.max(0.2, (s.durationMs / (summary.duration || 1)) * 100);
              const color = colorOf(s.service);
              const isSel = s.spanId === selected;
              return (
                <div key={s.spanId} role="row" class={'wf-row' + (isSel ? ' selected' : '') + (s.status.code === 'error' ? ' span-error' : '')} data-testid="span-row" data-span-id={s.spanId}>
                  <div class="wf-name" role="cell" style={{ paddingLeft: `${depth * 14 + 4}px` }}>
                    {hasChildren ? (
                      <button type="button" class="twisty" aria-expanded={!collapsed.has(s.spanId)} aria-label={`${collapsed.has(s.spanId) ? 'Expand' : 'Collapse'} children of ${s.name}`} onClick={() => toggle(s.spanId)}>
                        {collapsed.has(s.spanId) ? '▸' : '▾'}
                      </button>
                    ) : (
                      <span class="twisty-space" />
                    )}
                    <button type="button" class="span-btn" aria-pressed={isSel} onClick={() => select(isSel ? '' : s.spanId)} data-testid="span-select">
                      <span class="svc-dot" style={{ background: color }} />
                      <span class="svc-name">{s.service}</span> <span class="op">{s.name}</span>
                      {s.status.code === 'error' && <span class="err-mark" aria-label="error">!</span>}
                    </button>
                  </div>
                  <div class="wf-timeline" role="cell" onClick={() => select(isSel ? '' : s.spanId)}>
                    <span class="bar" style={{ left: `${left}%`, width: `${width}%`, background: color }} />
                    {s.events.map((e, i) => (
                      <span key={i} class="event-mark" title={e.name} style={{ left: `${((e.ms - summary.start) / (summary.duration || 1)) * 100}%` }} />
                    ))}
                    <span
                      class={'bar-label' + (left + width > 88 && left <= 15 ? ' inside' : '')}
                      style={left + width <= 88 ? { left: `${left + width + 0.5}%` } : left > 15 ? { right: `${100 - left + 0.5}%` } : { right: `${100 - left - width + 0.5}%` }}
                    >
                      {formatSpanDuration(s.durationMs)}
                    </span>
                  </div>
                </div>
              );
            })}
          </div>
          {sel && <SpanDetails span={sel} traceStart={summary.start} range={range} onClose={() => select('')} />}
        </div>
      )}
    </div>
  );
}

function SpanDetails({ span: s, traceStart, range, onClose }: { span: Span; traceStart: number; range: { from: string; to: string }; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [s.spanId]);
  return (
    <aside class="span-details" ref={ref} tabIndex={-1} aria-label={`Span ${s.name}`} data-testid="span-details">
      <div class="details-head">
        <h2>{s.name}</h2>
        <button type="button" class="btn small" onClick={onClose} aria-label="Close span details (Esc)" data-testid="span-close">
          ✕
        </button>
      </div>
      <div class="actions">
        <a class="btn small primary" href={href('/logs', { trace: s.traceId, span: s.spanId, from: range.from, to: range.to })} data-testid="span-logs">
          Logs for this span
        </a>
        <a class="btn small" href={href('/logs', { trace: s.traceId, from: range.from, to: range.to })} data-testid="span-trace-logs">
          Logs for this trace
        </a>
        <a class="btn small" href={href('/red', { service: s.service, span_name: s.name, from: range.from, to: range.to })} data-testid="span-red">
          RED: {s.service} / {s.name}
        </a>
        <a class="btn small" href={href('/red', { service: s.service, from: range.from, to: range.to })}>
          RED: {s.service}
        </a>
      </div>
      <KV
        testid="span-summary"
        rows={[
          ['Service', s.service],
          ['Kind', s.kind],
          [
            'Status',
            <span class={s.status.code === 'error' ? 'badge err' : s.status.code === 'ok' ? 'badge ok' : ''}>
              {s.status.code}
              {s.status.message ? `: ${s.status.message}` : ''}
            </span>,
          ],
          ['Start', `${formatTime(s.startMs, true)} (+${formatSpanDuration(s.startMs - traceStart)})`],
          ['Duration', formatSpanDuration(s.durationMs)],
          ['Span ID', <span class="mono">{s.spanId}</span>],
          ['Parent ID', <span class="mono">{s.parentId || '—'}</span>],
          ['Scope', `${s.scope.name}${s.scope.version ? ` ${s.scope.version}` : ''}`],
          ...(s.traceState ? ([['Trace state', s.traceState]] as [string, string][]) : []),
        ]}
      />
      <h3>Attributes</h3>
      <KV testid="span-attributes" rows={s.attributes.map(([k, v]) => [k, <span class="mono">{v}</span>])} />
      <h3>Events ({s.events.length})</h3>
      {s.events.length ? (
        s.events.map((e, i) => (
          <div class="event" key={i}>
            <div>
              <strong>{e.name}</strong> <span class="muted small">+{formatSpanDuration(e.ms - s.startMs)} into the span</span>
            </div>
            <KV rows={e.attributes.map(([k, v]) => [k, <span class="mono">{v}</span>])} />
          </div>
        ))
      ) : (
        <p class="muted">None.</p>
      )}
      <h3>Links ({s.links.length})</h3>
      {s.links.length ? (
        s.links.map((l, i) => (
          <div class="event" key={i}>
            <a href={href(`/trace/${l.traceId}`, { span: l.spanId, from: range.from, to: range.to })} class="mono">
              {l.traceId} / {l.spanId}
            </a>
            <KV rows={l.attributes.map(([k, v]) => [k, <span class="mono">{v}</span>])} />
          </div>
        ))
      ) : (
        <p class="muted">None.</p>
      )}
      <h3>Resource</h3>
      <KV testid="span-resource" rows={s.resource.map(([k, v]) => [k, <span class="mono">{v}</span>])} />
    </aside>
  );
}
