import { useState } from 'preact/hooks';
import { ApiError, getJSON, promData } from '../api';
import { ErrorBox, KV, Loading } from '../components/common';
import { useAsync } from '../hooks';
import { href, navigate, type Route } from '../router';
import { ago, formatTime } from '../time';

interface NameValue {
  name: string;
  value: number;
}
interface Tsdb {
  headStats: { numSeries: number; numLabelPairs?: number; chunkCount: number; minTime: number; maxTime: number };
  seriesCountByMetricName: NameValue[];
  labelValueCountByLabelName: NameValue[];
  memoryInBytesByLabelName: NameValue[];
  seriesCountByLabelValuePair: NameValue[];
}

/** An optional endpoint: 404 is "not served", anything else an error to show. */
function useOptional<T>(path: string, params: Record<string, string> | undefined, deps: unknown[]) {
  return useAsync(
    async (signal) => {
      try {
        return { data: (await getJSON<{ data: T }>(path, params, { signal })).data, missing: '' };
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return { data: undefined, missing: e.message };
        throw e;
      }
    },
    deps,
  );
}

function Section({ title, children, testid }: { title: string; children: preact.ComponentChildren; testid: string }) {
  return (
    <section class="panel" data-testid={testid}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

type OptionalRes<T> = { data?: { data: T | undefined; missing: string }; error?: string; loading: boolean };

function Optional<T>({ res, render }: { res: OptionalRes<T>; render: (d: T) => preact.ComponentChildren }) {
  if (res.loading) return <Loading on />;
  if (res.error) return <ErrorBox error={res.error} />;
  if (!res.data) return null;
  if (res.data.missing) return <p class="muted">Not served by this nerve.</p>;
  return <>{res.data.data !== undefined ? render(res.data.data) : null}</>;
}

/** A section that disappears when its endpoint is not served (404). */
function OptionalSection<T>({ title, testid, res, render }: { title: string; testid: string; res: OptionalRes<T>; render: (d: T) => preact.ComponentChildren }) {
  if (res.data?.missing) return null;
  return (
    <Section title={title} testid={testid}>
      <Optional res={res} render={render} />
    </Section>
  );
}

const TIME_KEY = /time$/i;

/** Generic key/value rows: nested values as JSON, RFC 3339 times also in local time. */
function kvRows(o: Record<string, unknown>): [string, preact.ComponentChildren][] {
  return Object.entries(o).map(([k, v]) => {
    if (v !== null && typeof v === 'object') return [k, <span class="mono">{JSON.stringify(v)}</span>];
    const text = String(v);
    if (typeof v === 'string' && TIME_KEY.test(k)) {
      const ms = Date.parse(v);
      // Go's zero time (Prometheus' "never") and unparsable values stay as they are.
      if (isFinite(ms) && ms > 0) return [k, <span title={text}>{formatTime(ms)} <span class="muted small">({ago(ms)})</span></span>];
    }
    if (typeof v === 'number') return [k, v.toLocaleString()];
    if (text === '') return [k, <span class="muted">(empty)</span>];
    return [k, text];
  });
}

export function StatusPage({ route }: { route: Route }) {
  const limit = route.params.get('limit') || '10';
  const [nonce] = useState(0);
  const build = useOptional<Record<string, string>>('/api/v1/status/buildinfo', undefined, [nonce]);
  const runtime = useOptional<Record<string, unknown>>('/api/v1/status/runtimeinfo', undefined, [nonce]);
  const flags = useOptional<Record<string, string>>('/api/v1/status/flags', undefined, [nonce]);
  const config = useOptional<{ yaml: string }>('/api/v1/status/config', undefined, [nonce]);
  const tsdb = useAsync((signal) => promData<Tsdb>('/api/v1/status/tsdb', { limit }, { signal }).then((r) => r.data), [limit]);

  const top = (title: string, rows: NameValue[] | undefined, link?: (n: string) => string, unit = '') => (
    <div class="panel small-panel">
      <h3>{title}</h3>
      <table class="grid">
        <tbody>
          {(rows ?? []).map((r) => (
            <tr key={r.name}>
              <td class="mono">{link ? <a href={link(r.name)}>{r.name}</a> : r.name}</td>
              <td class="num">
                {r.value.toLocaleString()}
                {unit}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

  return (
    <div class="page">
      <h1>Status</h1>
      <div class="status-grid">
        <Section title="Build" testid="status-build">
          <Optional res={build} render={(d) => <KV rows={kvRows(d)} />} />
        </Section>
        <Section title="Runtime" testid="status-runtime">
          <Optional res={runtime} render={(d) => <KV rows={kvRows(d)} testid="runtime-info" />} />
        </Section>
      </div>
      <Section title="TSDB" testid="status-tsdb">
        <div class="toolbar">
          <label>
            Top{' '}
            <select value={limit} onChange={(e) => navigate('/status', { limit: (e.target as HTMLSelectElement).value }, true)} data-testid="tsdb-limit">
              {['10', '20', '50', '100'].map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </label>
          <Loading on={tsdb.loading} />
        </div>
        <ErrorBox error={tsdb.error} />
        {tsdb.data && (
          <>
            <KV
              rows={[
                ['Head series', tsdb.data.headStats.numSeries.toLocaleString()],
                ['Label pairs', (tsdb.data.headStats.numLabelPairs ?? 0).toLocaleString()],
                ['Chunks', tsdb.data.headStats.chunkCount.toLocaleString()],
                ['Head time range', `${formatTime(tsdb.data.headStats.minTime)} – ${formatTime(tsdb.data.headStats.maxTime)}`],
              ]}
            />
            <div class="status-grid">
              {top('Series count by metric name (cardinality)', tsdb.data.seriesCountByMetricName, (n) => href('/metrics', { query: `count by (__name__) ({__name__=${JSON.stringify(n)}})`, tab: 'table' }))}
              {top('Label values by label name', tsdb.data.labelValueCountByLabelName)}
              {top('Series by label pair', tsdb.data.seriesCountByLabelValuePair)}
              {top('Memory by label name', tsdb.data.memoryInBytesByLabelName, undefined, ' B')}
            </div>
          </>
        )}
      </Section>
      {/* nerve answers 404 here on purpose (Grafana reads that as "not Prometheus"): hidden then. */}
      <OptionalSection title="Flags" testid="status-flags" res={flags} render={(d) => <KV rows={kvRows(d)} />} />
      <OptionalSection
        title="Configuration"
        testid="status-config"
        res={config}
        render={(d) => (d.yaml?.trim() ? <pre class="mono config">{d.yaml}</pre> : <p class="muted">Empty.</p>)}
      />
    </div>
  );
}
