import { useState } from 'preact/hooks';
import { ApiError, promData, type Labels } from '../api';
import { ErrorBox, LabelChips, Loading } from '../components/common';
import { useAsync } from '../hooks';
import { href, navigate, paramsObject, type Route } from '../router';
import { ago, formatDuration } from '../time';

interface Alert {
  labels: Labels;
  annotations: Labels;
  state: string;
  activeAt?: string;
  value?: string;
}
interface Rule {
  name: string;
  query: string;
  type: 'alerting' | 'recording';
  state?: string;
  health: string;
  lastError?: string;
  labels?: Labels;
  annotations?: Labels;
  alerts?: Alert[];
  duration?: number;
  keepFiringFor?: number;
  lastEvaluation?: string;
  evaluationTime?: number;
}
interface Group {
  name: string;
  file: string;
  interval: number;
  rules: Rule[];
  lastEvaluation?: string;
  evaluationTime?: number;
  language: 'promql' | 'logql';
}

async function groups(path: string, language: 'promql' | 'logql', signal: AbortSignal): Promise<Group[]> {
  try {
    const r = await promData<{ groups: Group[] }>(path, undefined, { signal });
    return (r.data.groups ?? []).map((g) => ({ ...g, language }));
  } catch (e) {
    // The LogQL ruler endpoint is optional.
    if (language === 'logql' && e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}

const STATES = ['firing', 'pending', 'inactive'];

export function AlertsPage({ route }: { route: Route }) {
  const p = route.params;
  const filter = p.get('state') ?? '';
  const text = p.get('filter') ?? '';
  const [draft, setDraft] = useState(text);
  const [nonce, setNonce] = useState(0);
  const res = useAsync(
    async (signal) => {
      const [prom, logql, alerts] = await Promise.all([
        groups('/api/v1/rules', 'promql', signal),
        groups('/prometheus/api/v1/rules', 'logql', signal),
        promData<{ alerts: Alert[] }>('/api/v1/alerts', undefined, { signal }).then((r) => r.data.alerts ?? []),
      ]);
      return { groups: [...prom, ...logql], alerts };
    },
    [nonce],
  );
  const update = (o: Record<string, string | undefined>) => navigate('/alerts', { ...paramsObject(p), ...o }, true);
  const all = res.data?.groups ?? [];
  const counts: Record<string, number> = { firing: 0, pending: 0, inactive: 0 };
  for (const g of all) for (const r of g.rules) if (r.type === 'alerting') counts[r.state ?? 'inactive'] = (counts[r.state ?? 'inactive'] ?? 0) + 1;
  const match = (r: Rule) =>
    (!filter || (r.type === 'alerting' && r.state === filter) || (filter === 'recording' && r.type === 'recording')) &&
    (!text || `${r.name} ${r.query} ${JSON.stringify(r.labels ?? {})}`.toLowerCase().includes(text.toLowerCase()));

  return (
    <div class="page">
      <h1>Alerts &amp; rules</h1>
      <div class="toolbar">
        <div class="tabs" role="group" aria-label="Filter by state">
          {['', ...STATES, 'recording'].map((s) => (
            <button type="button" key={s} class={'tab' + (filter === s ? ' active' : '')} aria-pressed={filter === s} onClick={() => update({ state: s || undefined })} data-testid={`alerts-filter-${s || 'all'}`}>
              {s ? `${s}${counts[s] !== undefined ? ` (${counts[s]})` : ''}` : 'all'}
            </button>
          ))}
        </div>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            update({ filter: draft || undefined });
          }}
        >
          <input type="search" placeholder="Filter rules…" value={draft} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} aria-label="Filter rules" />
        </form>
        <button type="button" class="btn icon" onClick={() => setNonce(nonce + 1)} aria-label="Refresh">
          ↻
        </button>
        <Loading on={res.loading} />
      </div>
      <ErrorBox error={res.error} />

      {res.data && (
        <>
          <section aria-labelledby="active-h">
            <h2 id="active-h">Active alerts ({res.data.alerts.length})</h2>
            {res.data.alerts.length ? (
              <table class="grid" data-testid="active-alerts">
                <thead>
                  <tr>
                    <th>State</th>
                    <th>Labels</th>
                    <th>Active since</th>
                    <th class="num">Value</th>
                    <th>Annotations</th>
                  </tr>
                </thead>
                <tbody>
                  {res.data.alerts.map((a, i) => (
                    <tr key={i}>
                      <td>
                        <span class={`badge ${a.state}`}>{a.state}</span>
                      </td>
                      <td>
                        <LabelChips labels={a.labels} />
                      </td>
                      <td>{a.activeAt ? ago(Date.parse(a.activeAt)) : '–'}</td>
                      <td class="num mono">{a.value ?? ''}</td>
                      <td class="small">
                        {Object.entries(a.annotations ?? {}).map(([k, v]) => (
                          <div key={k}>
                            <strong>{k}</strong>: {v}
                          </div>
                        ))}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <p class="muted">No pending or firing alerts.</p>
            )}
          </section>
          <section aria-labelledby="groups-h">
            <h2 id="groups-h">Rule groups ({all.length})</h2>
            {!all.length && <p class="muted">No rules loaded (configure rule_files).</p>}
            {all.map((g) => {
              const rules = g.rules.filter(match);
              if (!rules.length && (filter || text)) return null;
              return (
                <details class="group" open key={`${g.file}/${g.name}/${g.language}`} data-testid="rule-group">
                  <summary>
                    <strong>{g.name}</strong> <span class="muted small">{g.file}</span> <span class="badge small">{g.language}</span>{' '}
                    <span class="muted small">
                      every {formatDuration(g.interval * 1000)}
                      {g.lastEvaluation ? ` · evaluated ${ago(Date.parse(g.lastEvaluation))}` : ''}
                      {g.evaluationTime !== undefined ? ` in ${(g.evaluationTime * 1000).toFixed(1)} ms` : ''}
                    </span>
                  </summary>
                  {rules.map((r) => (
                    <RuleCard key={r.name + r.query} rule={r} language={g.language} />
                  ))}
                </details>
              );
            })}
          </section>
        </>
      )}
    </div>
  );
}

function RuleCard({ rule: r, language }: { rule: Rule; language: 'promql' | 'logql' }) {
  const graph = language === 'promql' ? href('/metrics', { query: r.query, from: 'now-1h', to: 'now' }) : href('/logs', { query: r.query, from: 'now-1h', to: 'now' });
  return (
    <div class={`rule ${r.type === 'alerting' ? r.state ?? 'inactive' : 'recording'}`} data-testid="rule">
      <div class="rule-head">
        {r.type === 'alerting' ? <span class={`badge ${r.state ?? 'inactive'}`}>{r.state ?? 'inactive'}</span> : <span class="badge">recording</span>}
        <strong>{r.name}</strong>
        <span class={'badge small ' + (r.health === 'ok' ? 'ok' : r.health === 'err' ? 'err' : '')}>health: {r.health}</span>
        {r.lastEvaluation && <span class="muted small">evaluated {ago(Date.parse(r.lastEvaluation))}</span>}
        <a class="btn small" href={graph} data-testid="rule-graph">
          Graph expression
        </a>
      </div>
      <pre class="mono expr">{r.query}</pre>
      {r.lastError && <div class="error">Last error: {r.lastError}</div>}
      <div class="small">
        {r.duration ? <span>for {formatDuration(r.duration * 1000)} </span> : null}
        {r.keepFiringFor ? <span>keep firing for {formatDuration(r.keepFiringFor * 1000)} </span> : null}
        {r.labels && Object.keys(r.labels).length > 0 && (
          <div>
            Labels: <LabelChips labels={r.labels} />
          </div>
        )}
        {r.annotations &&
          Object.entries(r.annotations).map(([k, v]) => (
            <div key={k}>
              <strong>{k}</strong>: {v}
            </div>
          ))}
      </div>
      {r.alerts && r.alerts.length > 0 && (
        <table class="grid small">
          <thead>
            <tr>
              <th>State</th>
              <th>Labels</th>
              <th>Active since</th>
              <th class="num">Value</th>
            </tr>
          </thead>
          <tbody>
            {r.alerts.map((a, i) => (
              <tr key={i}>
                <td>
                  <span class={`badge ${a.state}`}>{a.state}</span>
                </td>
                <td>
                  <LabelChips labels={a.labels} skip={['alertname']} />
                </td>
                <td>{a.activeAt ? ago(Date.parse(a.activeAt)) : '–'}</td>
                <td class="num mono">{a.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
