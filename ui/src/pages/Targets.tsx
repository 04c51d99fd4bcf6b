import { useState } from 'preact/hooks';
import { promData, type Labels } from '../api';
import { ErrorBox, LabelChips, Loading } from '../components/common';
import { useAsync } from '../hooks';
import { ago } from '../time';

interface Target {
  discoveredLabels: Labels;
  labels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: 'up' | 'down' | 'unknown';
  scrapeInterval?: string;
  scrapeTimeout?: string;
}

export function TargetsPage() {
  const [nonce, setNonce] = useState(0);
  const [onlyBad, setOnlyBad] = useState(false);
  const res = useAsync(
    (signal) => promData<{ activeTargets: Target[]; droppedTargets: unknown[]; droppedTargetCounts?: Record<string, number> }>('/api/v1/targets', undefined, { signal }),
    [nonce],
  );
  const targets = res.data?.data.activeTargets ?? [];
  const pools = new Map<string, Target[]>();
  for (const t of targets) pools.set(t.scrapePool, [...(pools.get(t.scrapePool) ?? []), t]);
  const dropped = res.data?.data.droppedTargetCounts ?? {};
  return (
    <div class="page">
      <h1>Targets</h1>
      <div class="toolbar">
        <label class="check">
          <input type="checkbox" checked={onlyBad} onChange={(e) => setOnlyBad((e.target as HTMLInputElement).checked)} data-testid="targets-unhealthy" /> Only unhealthy
        </label>
        <button type="button" class="btn icon" onClick={() => setNonce(nonce + 1)} aria-label="Refresh">
          ↻
        </button>
        <Loading on={res.loading} />
      </div>
      <ErrorBox error={res.error} />
      {res.data && !targets.length && <p class="muted">No active targets.</p>}
      {[...pools.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([pool, ts]) => {
          const up = ts.filter((t) => t.health === 'up').length;
          const shown = onlyBad ? ts.filter((t) => t.health !== 'up') : ts;
          if (!shown.length && onlyBad) return null;
          return (
            <details class="group" open key={pool} data-testid="target-pool">
              <summary>
                <strong>{pool}</strong>{' '}
                <span class={'badge ' + (up === ts.length ? 'ok' : 'err')}>
                  {up}/{ts.length} up
                </span>
                {dropped[pool] ? <span class="muted small"> · {dropped[pool]} dropped</span> : null}
              </summary>
              <table class="grid">
                <thead>
                  <tr>
                    <th>Endpoint</th>
                    <th>State</th>
                    <th>Labels</th>
                    <th>Last scrape</th>
                    <th class="num">Duration</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((t) => (
                    <tr key={t.scrapeUrl} data-testid="target">
                      <td>
                        <a href={t.scrapeUrl} target="_blank" rel="noopener noreferrer" class="mono">
                          {t.scrapeUrl}
                        </a>
                      </td>
                      <td>
                        <span class={'badge ' + (t.health === 'up' ? 'ok' : t.health === 'down' ? 'err' : '')}>{t.health}</span>
                      </td>
                      <td>
                        <LabelChips labels={t.labels} />
                      </td>
                      <td title={t.lastScrape}>{t.lastScrape && !t.lastScrape.startsWith('0001') ? ago(Date.parse(t.lastScrape)) : 'never'}</td>
                      <td class="num">{(t.lastScrapeDuration * 1000).toFixed(1)} ms</td>
                      <td class="error-text">{t.lastError}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          );
        })}
    </div>
  );
}
