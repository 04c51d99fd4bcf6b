// Service graph from the service-graph series (Tempo's names), drawn as a layered node-link
// diagram in SVG: callers left, callees right.
import { useMemo, useState } from 'preact/hooks';
import { promData, type QueryData, type VectorSample } from '../api';
import { ErrorBox, Loading, TimeRangePicker } from '../components/common';
import { useAsync } from '../hooks';
import { href, navigate, paramsObject, type HashParams, type Route } from '../router';
import { serviceColor, useTheme } from '../theme';
import { formatDuration, formatSpanDuration, rangeFromParams, resolveRange } from '../time';

interface Edge {
  client: string;
  server: string;
  rate: number;
  errRatio: number;
  p95: number | null;
}

const NODE_W = 150;
const NODE_H = 44;
const COL = 260;
const ROW = 80;

export function ServiceGraphPage({ route }: { route: Route }) {
  const p = route.params;
  const range = rangeFromParams(p);
  const [nonce, setNonce] = useState(0);
  const update = (o: HashParams) => navigate('/service-graph', { ...paramsObject(p), ...o });
  const { start, end } = useMemo(() => resolveRange(range), [p.toString(), nonce]); // "now" moves on with every new URL state
  const winS = Math.max(60, Math.round((end - start) / 1000));
  const theme = useTheme();

  const res = useAsync(
    async (signal) => {
      const w = `${winS}s`;
      const inst = (query: string) =>
        promData<QueryData>('/api/v1/query', { query, time: end / 1000 }, { signal }).then((r) => (r.data.resultType === 'vector' ? r.data.result : []));
      const [total, failed, p95] = await Promise.all([
        inst(`sum by (client, server) (increase(traces_service_graph_request_total[${w}]))`),
        inst(`sum by (client, server) (increase(traces_service_graph_request_failed_total[${w}]))`),
        inst(`histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket[${w}])))`),
      ]);
      const key = (s: VectorSample) => `${s.metric.client}\u0000${s.metric.server}`;
      const f = new Map(failed.map((s) => [key(s), parseFloat(s.value[1])]));
      const l = new Map(p95.map((s) => [key(s), parseFloat(s.value[1])]));
      const edges: Edge[] = total
        .filter((s) => s.metric.client && s.metric.server)
        .map((s) => {
          const n = parseFloat(s.value[1]);
          const lat = l.get(key(s));
          return {
            client: s.metric.client,
            server: s.metric.server,
            rate: n / winS,
            errRatio: n > 0 ? (f.get(key(s)) ?? 0) / n : 0,
            p95: lat !== undefined && isFinite(lat) ? lat : null,
          };
        });
      return edges;
    },
    [start, end, winS, nonce],
  );

  const layout = useMemo(() => (res.data ? layoutGraph(res.data) : null), [res.data]);

  return (
    <div class="page">
      <h1>Service graph</h1>
      <div class="toolbar">
        <TimeRangePicker range={range} onChange={(r) => update({ ...r })} onRefresh={() => setNonce((n) => n + 1)} />
        <span class="muted small">Rates averaged over the range ({formatDuration(winS * 1000)}), from traces_service_graph_request_total.</span>
        <Loading on={res.loading} />
      </div>
      <ErrorBox error={res.error} />
      {res.data && !res.data.length && <p class="muted">No service-graph series in this range (they need client/server span pairs).</p>}
      {layout && res.data && res.data.length > 0 && (
        <>
          <div class={'graph-wrap' + (res.stale ? ' stale' : '')} aria-busy={res.stale ? 'true' : undefined} data-stale={res.stale ? '1' : undefined}>
            <svg
              width={layout.width}
              height={layout.height}
              viewBox={`0 0 ${layout.width} ${layout.height}`}
              role="img"
              aria-label={`Service graph with ${layout.nodes.length} services and ${res.data.length} edges`}
              data-testid="service-graph"
              data-nodes={layout.nodes.length}
              data-edges={res.data.length}
            >
              <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
                  <path d="M0,0 L10,5 L0,10 z" fill="var(--fg-muted)" />
                </marker>
              </defs>
              {res.data.map((e) => {
                const a = layout.pos.get(e.client)!;
                const b = layout.pos.get(e.server)!;
                const x1 = a.x + NODE_W;
                const y1 = a.y + NODE_H / 2;
                const x2 = b.x;
                const y2 = b.y + NODE_H / 2;
                const back = x2 <= x1;
                const d = back
                  ? `M${a.x + NODE_W / 2},${a.y + NODE_H} C${a.x + NODE_W / 2},${a.y + NODE_H + 60} ${b.x + NODE_W / 2},${b.y + NODE_H + 60} ${b.x + NODE_W / 2},${b.y + NODE_H}`
                  : `M${x1},${y1} C${x1 + 60},${y1} ${x2 - 60},${y2} ${x2},${y2}`;
                const mx = back ? (a.x + b.x) / 2 + NODE_W / 2 : (x1 + x2) / 2;
                const my = back ? Math.max(a.y, b.y) + NODE_H + 50 : (y1 + y2) / 2 - 6;
                const bad = e.errRatio >= 0.05;
                return (
                  <g key={`${e.client}>${e.server}`} class="edge">
                    <path d={d} fill="none" stroke={bad ? '#D55E00' : 'var(--fg-muted)'} stroke-width={1 + Math.min(5, Math.log10(1 + e.rate * 10))} marker-end="url(#arrow)" opacity="0.8" />
                    <text x={mx} y={my} text-anchor="middle" class="edge-label">
                      {e.rate.toFixed(2)}/s{e.errRatio > 0 ? ` · ${(e.errRatio * 100).toFixed(1)}% err` : ''}
                    </text>
                  </g>
                );
              })}
              {layout.nodes.map((n) => {
                const pnt = layout.pos.get(n)!;
                return (
                  <a key={n} href={href('/red', { service: n, from: range.from, to: range.to })} data-testid="graph-node" data-service={n} aria-label={`${n}: open RED panel`}>
                    <rect x={pnt.x} y={pnt.y} width={NODE_W} height={NODE_H} rx="8" class="node" style={{ stroke: serviceColor(n, theme) }} />
                    <text x={pnt.x + NODE_W / 2} y={pnt.y + NODE_H / 2 + 5} text-anchor="middle" class="node-label">
                      {n.length > 20 ? n.slice(0, 19) + '…' : n}
                    </text>
                  </a>
                );
              })}
            </svg>
          </div>
          <table class="grid" data-testid="service-graph-table">
            <caption class="sr-only">Edges</caption>
            <thead>
              <tr>
                <th>Client</th>
                <th>Server</th>
                <th class="num">Requests/s</th>
                <th class="num">Errors</th>
                <th class="num">Server p95</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {res.data.map((e) => (
                <tr key={`${e.client}>${e.server}`}>
                  <td>{e.client}</td>
                  <td>{e.server}</td>
                  <td class="num">{e.rate.toFixed(3)}</td>
                  <td class="num">{(e.errRatio * 100).toFixed(1)}%</td>
                  <td class="num">{e.p95 === null ? '–' : formatSpanDuration(e.p95 * 1000)}</td>
                  <td>
                    <a href={href('/red', { service: e.server, from: range.from, to: range.to })}>RED of {e.server}</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

function layoutGraph(edges: Edge[]) {
  const nodes = [...new Set(edges.flatMap((e) => [e.client, e.server]))].sort();
  const layer = new Map(nodes.map((n) => [n, 0]));
  // Longest path from the callers, capped so cycles end.
  for (let i = 0; i < nodes.length; i++) {
    let changed = false;
    for (const e of edges) {
      if (e.client === e.server) continue;
      const want = layer.get(e.client)! + 1;
      if (want > layer.get(e.server)! && want < nodes.length) {
        layer.set(e.server, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const cols = new Map<number, string[]>();
  for (const n of nodes) {
    const l = layer.get(n)!;
    cols.set(l, [...(cols.get(l) ?? []), n]);
  }
  const maxRows = Math.max(...[...cols.values()].map((c) => c.length));
  const pos = new Map<string, { x: number; y: number }>();
  for (const [l, ns] of cols) {
    const offset = ((maxRows - ns.length) * ROW) / 2;
    ns.forEach((n, i) => pos.set(n, { x: 20 + l * COL, y: 30 + offset + i * ROW }));
  }
  const ncols = Math.max(...cols.keys()) + 1;
  // Room below the nodes only for edges drawn backwards (curving underneath).
  const back = edges.some((e) => layer.get(e.server)! <= layer.get(e.client)!);
  return { nodes, pos, width: 40 + (ncols - 1) * COL + NODE_W, height: 30 + (maxRows - 1) * ROW + NODE_H + (back ? 100 : 30) };
}
