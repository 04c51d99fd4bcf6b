// Screenshots for the docs (light theme, 1400×900) against a nerve running the demo:
//   NERVE_URL=http://127.0.0.1:9090 OUT=docs/screenshots node ui/scripts/docs-screenshots.mjs
// Env: NERVE_URL (required), OUT (default docs/screenshots of the repository),
// RANGE (default 15m: let the demo run at least that long first), CHROMIUM.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.NERVE_URL || '').replace(/\/+$/, '');
const OUT = resolve(process.env.OUT || join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots'));
const RANGE = process.env.RANGE || '15m';
if (!BASE) {
  console.error('docs-screenshots: set NERVE_URL');
  process.exit(1);
}
mkdirSync(OUT, { recursive: true });
const q = encodeURIComponent;
const range = `from=now-${RANGE}&to=now`;

async function api(path) {
  const r = await fetch(BASE + path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

// A checkout trace with an error (more to see in the waterfall), else any frontend trace.
const nowUs = Date.now() * 1000;
const search = async (tags) =>
  (await api(`/jaeger/api/traces?service=frontend&operation=${q('POST /checkout')}&limit=20&start=${nowUs - 600e6}&end=${nowUs}${tags ? `&tags=${q(tags)}` : ''}`)).data ?? [];
const traces = [...(await search('{"error":"true"}')), ...(await search(''))];
if (!traces.length) throw new Error('no frontend trace yet: is the demo running?');
const trace = traces.find((t) => t.spans.length >= 7) ?? traces[0];
const failing = trace.spans.find((s) => s.tags?.some((t) => t.key === 'error' && String(t.value) === 'true')) ?? trace.spans[0];

const dir = mkdtempSync(join(tmpdir(), 'nerve-docs-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  viewport: { width: 1400, height: 900 },
  colorScheme: 'light',
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
await page.goto(`${BASE}/`);
await page.evaluate(() => localStorage.setItem('nerve.theme', 'light'));

async function shot(name, hash, ready, prepare) {
  await page.goto(`${BASE}/#${hash}`);
  await page.reload(); // hash-only navigation does not reload; start each view fresh
  await page.waitForFunction(ready, undefined, { timeout: 15_000 });
  if (prepare) await prepare();
  await page.mouse.move(0, 899);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  console.log(`${name}.png`);
}

try {
  await shot(
    'metrics-exemplars',
    `/metrics?query=${q('histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))')}&${range}`,
    () => document.querySelectorAll('[data-testid=metrics-chart] [data-testid=exemplar]').length > 0,
  );
  await shot(
    'trace-waterfall',
    `/trace/${trace.traceID}?span=${failing.spanID}&${range}`,
    () => document.querySelectorAll('[data-testid=span-row]').length > 0 && document.querySelector('[data-testid=span-details]'),
  );
  await shot(
    'logs-trace-links',
    `/logs?query=${q('{service_name=~"frontend|payments"} | json')}&${range}`,
    () => document.querySelectorAll('[data-testid=log-line] [data-testid=trace-link]').length > 0 && Number(document.querySelector('[data-testid=logs-volume]')?.dataset.points) > 0,
    async () => {
      // Open a line's details (labels, metadata, parsed fields, trace link): an error line if
      // one is near the top.
      const rows = page.locator('[data-testid=log-line]');
      const n = Math.min(await rows.count(), 6);
      let pick = 1;
      for (let i = 0; i < n; i++) {
        if (/error/i.test((await rows.nth(i).locator('.level').textContent().catch(() => '')) ?? '')) {
          pick = i;
          break;
        }
      }
      await rows.nth(pick).getByTestId('log-expand').click();
      await page.evaluate(() => window.scrollTo(0, 0));
    },
  );
  await shot(
    'red-panel',
    `/red?service=frontend&${range}`,
    () => ['red-rate', 'red-errors', 'red-duration'].every((t) => Number(document.querySelector(`[data-testid=${t}]`)?.dataset.visiblePoints) > 0),
  );
  await shot('service-graph', `/service-graph?${range}`, () => document.querySelectorAll('[data-testid=graph-node]').length > 0);
} finally {
  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`docs-screenshots: written to ${OUT}`);
