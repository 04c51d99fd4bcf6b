import { useState } from 'preact/hooks';
import { ApiError, getJSON, promData } from '../api';
import { ErrorBox, KV, Loading } from '../components/common';
import { useAsync } from '../hooks';
import { href, navigate, type Route } from '../router';
import { formatTime } from '../time';

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

function Optional<T>({ res, render }: { res: { data?: { data: T | undefined; missing: string }; error?: string; loading: boolean }; render: (d: T) => preact.ComponentChildren }) {
  if (res.loading) return <Loading on />;
  if (res.error) return <ErrorBox error={res.error} />;
  if (!res.data) return null;
  if (res.data.missing) return <p class="muted">Not available: {res.data.missing}</p>;
  return <>{res.data.data !== undefined ? render(res.data.data) : null}</>;
}

export function StatusPage({ route }: { route: Route }) {
  const limit = route.params.get('limit') || '10';
  const [nonce] = useState(0);
  const build = useOptional<Record<string, string>>('/api/v1/status/buildinfo', undefined, [nonce]);
  const runtime = useOptional<Record<string, unknown>>('/api/v1/status/runtimeinfo', undefined, [nonce]);
  const flags = useOptional<Record<string, string>>('/api/v1/status/flags', undefined, [nonce]);
  const config = useOptional<{ yaml: string }>('/api/v1/status/config', undefined, [nonce]);
  const tsdb = useAsync((signal) => promData<Tsdb>('/api/v1/status/tsdb', { limit }, { signal }).then((r) => r.data), [limit]);

  const kv = (o: Record<string, unknown>): [string, string][] => Object.entries(o).map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
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
          <Optional res={build} render={(d) => <KV rows={kv(d)} />} />
        </Section>
        <Section title="Runtime" testid="status-runtime">
          <Optional res={runtime} render={(d) => <KV rows={kv(d)} />} />
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
      <Section title="Flags" testid="status-flags">
        <Optional res={flags} render={(d) => <KV rows={kv(d)} />} />
      </Section>
      <Section title="Configuration" testid="status-config">
        <Optional res={config} render={(d) => <pre class="mono config">{d.yaml}</pre>} />
      </Section>
    </div>
  );
}
