// End-to-end test of nerve's UI in headless Chromium, against a nerve that serves the UI and
// runs the demo workload (`nerve --demo`).
//
//   NERVE_URL=http://127.0.0.1:9090 SCREENSHOT_DIR=/tmp/shots node ui/e2e/e2e.mjs
//
// Env: NERVE_URL (required; the UI's origin), SCREENSHOT_DIR (default ./e2e-screenshots),
// CHROMIUM (default /usr/bin/chromium), E2E_FIRST_RENDER_MS (first-render budget, default 1000),
// NERVE_AUTH_URL + NERVE_AUTH_TOKEN (optional: a second UI origin whose nerve requires that
// bearer token for reading; only then the login step 08 runs).
// Exits 1 with a message naming the failed step. Whole run bounded to 2 minutes.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.NERVE_URL || '').replace(/\/+$/, '');
const SHOTS = resolve(process.env.SCREENSHOT_DIR || 'e2e-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RENDER_BUDGET = Number(process.env.E2E_FIRST_RENDER_MS || 1000);
const DEADLINE_MS = 115_000;
const AUTH_BASE = (process.env.NERVE_AUTH_URL || '').replace(/\/+$/, '');
const AUTH_TOKEN = process.env.NERVE_AUTH_TOKEN || '';

if (!BASE) {
  console.error('e2e: set NERVE_URL to a nerve serving the UI (with --demo running)');
  process.exit(1);
}
mkdirSync(SHOTS, { recursive: true });

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
let passed = 0;
let failed = 0;

class StepError extends Error {}
function assert(cond, msg) {
  if (!cond) throw new StepError(msg);
}

let context;
let userDataDir;
async function cleanup() {
  try {
    await context?.close();
  } catch {
    /* already gone */
  }
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}
const killer = setTimeout(async () => {
  console.error(`e2e: FAIL: the run exceeded ${DEADLINE_MS / 1000} s`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  await cleanup();
  process.exit(1);
}, DEADLINE_MS);

/** Polls `fn` until it returns a truthy value or `ms` pass. */
async function poll(what, ms, fn, every = 2000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new StepError(`timed out after ${ms / 1000} s waiting for ${what}${last ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

async function api(path) {
  const r = await fetch(BASE + path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

const q = encodeURIComponent;

async function traceExists(id) {
  const r = await fetch(`${BASE}/tempo/api/traces/${id}`);
  await r.arrayBuffer();
  return r.ok;
}
const nowS = () => Math.floor(Date.now() / 1000);

// ---- wait for the demo's data ----------------------------------------------------------------

log(`nerve at ${BASE}; screenshots in ${SHOTS}`);
try {
  const r = await fetch(BASE + '/');
  const html = await r.text();
  assert(r.ok && html.includes('/assets/app.js'), `GET ${BASE}/ does not serve the UI's index.html (HTTP ${r.status})`);
  await poll('span metrics from the demo', 60_000, async () => {
    const d = await api(`/api/v1/query?query=${q('sum(traces_spanmetrics_calls_total)')}`);
    return d.data.result.length > 0;
  });
  await poll('exemplars from the demo', 60_000, async () => {
    const d = await api(`/api/v1/query_exemplars?query=${q('http_server_request_duration_seconds_bucket')}&start=${nowS() - 3600}&end=${nowS()}`);
    return d.data.some((s) => s.exemplars.length > 0);
  });
  await poll('frontend logs from the demo', 60_000, async () => {
    const d = await api(`/loki/api/v1/query_range?query=${q('{service_name="frontend"}')}&limit=1&start=${nowS() - 3600}000000000`);
    return d.data.result.length > 0;
  });
  await poll('service-graph series', 60_000, async () => {
    const d = await api(`/api/v1/query?query=${q('sum(traces_service_graph_request_total)')}`);
    return d.data.result.length > 0;
  });
  log('demo data present');
} catch (e) {
  console.error(`e2e: FAIL (setup): ${e.message}`);
  console.log('0 passed, 1 failed');
  clearTimeout(killer);
  process.exit(1);
}

// ---- browser ---------------------------------------------------------------------------------

userDataDir = mkdtempSync(join(tmpdir(), 'nerve-e2e-'));
context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 900 },
});
context.setDefaultTimeout(20_000);
const page = context.pages()[0] ?? (await context.newPage());
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
page.on('console', (m) => {
  if (m.type() === 'error') log(`browser console: ${m.text()}`);
});

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Runs one step; its screenshot is taken afterwards unless the step takes its own (`ownShot`). */
async function step(name, fn, ownShot = false) {
  log(`step ${name}`);
  try {
    await fn();
    assert(!pageErrors.length, `uncaught page error: ${pageErrors.join('; ')}`);
    if (!ownShot) await shot(name);
    passed++;
    log(`ok   ${name}`);
  } catch (e) {
    failed++;
    await shot(`${name}-FAILED`).catch(() => {});
    console.error(`e2e: FAIL in step "${name}": ${e.message}`);
    console.log(`${passed} passed, ${failed} failed`);
    clearTimeout(killer);
    await cleanup();
    process.exit(1);
  }
}

async function runQuery(testid, query) {
  const input = page.getByTestId(testid);
  await input.waitFor();
  await input.fill(query);
  await input.press('Control+Enter');
}

async function expectWaterfall(traceId) {
  await page.waitForFunction(
    (id) => {
      const w = document.querySelector('[data-testid=waterfall]');
      const shown = document.querySelector('[data-testid=trace-id]')?.textContent?.trim();
      // data-trace-id: the trace the waterfall draws (never the previous one's while loading).
      return w && w.dataset.traceId === id && Number(w.dataset.spans) >= 1 && w.querySelectorAll('[data-testid=span-row]').length >= 1 && shown === id;
    },
    traceId,
    { timeout: 15_000 },
  ).catch(async () => {
    const err = await page.getByTestId('error').first().textContent({ timeout: 500 }).catch(() => '');
    throw new StepError(`no waterfall for trace ${traceId}${err ? `: ${err}` : ''}`);
  });
}

/** The chart's drawn x scale against the selected range (both seconds), within one step. */
async function expectChartRange(testid, rangeS, asOfS) {
  const c = page.getByTestId(testid);
  // Drawn, and the current query's result (not a previous one kept on screen while loading).
  await page.waitForFunction((t) => {
    const d = document.querySelector(`[data-testid=${t}]`)?.dataset;
    return d && d.xMax && !d.stale;
  }, testid);
  const a = await c.evaluate((el) => ({ ...el.dataset }));
  const [min, max, step] = [Number(a.xMin), Number(a.xMax), Number(a.step)];
  assert(step > 0, `${testid}: no data-step`);
  // "now" is resolved in the browser between asOf and the check.
  const now = Date.now() / 1000;
  assert(max >= asOfS - step && max <= now + step, `${testid}: x axis ends at ${new Date(max * 1000).toISOString()}, not now (${new Date(now * 1000).toISOString()}) ± ${step} s`);
  assert(Math.abs(max - min - rangeS) <= step, `${testid}: x axis spans ${(max - min).toFixed(1)} s, the selected range is ${rangeS} s (± ${step} s)`);
  assert(Number(a.visiblePoints) > 0, `${testid}: no sample lies inside the drawn x range`);
  return a;
}

// 1. PromQL query → chart with data, on exactly the selected range, with legend values on hover.
await step('01-metrics-chart', async () => {
  await page.goto(`${BASE}/#/metrics`);
  const asOf = Date.now() / 1000;
  await runQuery('promql-input', 'sum by (service) (rate(traces_spanmetrics_calls_total[1m]))');
  await page.waitForFunction(() => {
    const c = document.querySelector('[data-testid=metrics-chart]');
    return c && c.querySelector('canvas') && Number(c.dataset.series) >= 1 && Number(c.dataset.points) > 0;
  }).catch(async () => {
    const err = await page.getByTestId('error').first().textContent({ timeout: 500 }).catch(() => '');
    throw new StepError(`the metrics chart has no data${err ? `: ${err}` : ''}`);
  });
  const a = await expectChartRange('metrics-chart', 3600, asOf);
  log(`chart: ${a.series} series, ${a.points} points (${a.visiblePoints} in view, ${a.markers} drawn as dots), x ${new Date(a.xMin * 1000).toISOString()} … ${new Date(a.xMax * 1000).toISOString()}, step ${a.step} s`);
  assert(page.url().includes('query='), 'the query is not in the URL');
  // Hover near the newest steps: the legend names the hovered time and shows a number for
  // some series (moving left until a step has samples).
  const over = page.locator('[data-testid=metrics-chart] .u-over');
  const box = await over.boundingBox();
  let legend = [];
  for (const dx of [2, 6, 12, 24, 48, 96]) {
    await page.mouse.move(box.x + box.width - dx, box.y + box.height / 2);
    await page.waitForTimeout(50);
    legend = await page.$$eval('[data-testid=metrics-chart] .u-legend .u-value', (els) => els.map((e) => e.textContent.trim()));
    if (/^\d{4}-\d\d-\d\d /.test(legend[0] ?? '') && legend.slice(1).some((v) => /\d/.test(v))) break;
  }
  assert(/^\d{4}-\d\d-\d\d /.test(legend[0] ?? ''), `hover legend shows no time: ${JSON.stringify(legend)}`);
  assert(legend.slice(1).some((v) => /\d/.test(v)), `hover legend shows no value: ${JSON.stringify(legend)}`);
  log(`hover legend: ${legend.join(' | ')}`);
});

// 2. Histogram with exemplars → click a dot → its trace's waterfall.
await step('02-exemplar-to-trace', async () => {
  await page.goto(`${BASE}/#/metrics?from=now-15m&to=now`);
  await runQuery('promql-input', 'histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=metrics-chart] [data-testid=exemplar]').length > 0).catch(() => {
    throw new StepError('no exemplar dots on the chart');
  });
  const range = await expectChartRange('metrics-chart', 900, Date.now() / 1000 - 30);
  // Exemplars share the series' time scale (seconds): their times lie in the drawn range, and
  // every visible dot sits inside the plot.
  const ex = await page.evaluate(() => {
    const o = document.querySelector('[data-testid=metrics-chart] .u-over').getBoundingClientRect();
    const all = [...document.querySelectorAll('[data-testid=metrics-chart] [data-testid=exemplar]')];
    const shown = all.filter((b) => b.style.display !== 'none');
    return {
      ts: all.map((b) => Number(b.dataset.t)),
      shown: shown.length,
      outside: shown.map((b) => b.getBoundingClientRect()).filter((r) => r.left + r.width / 2 < o.left - 1 || r.left + r.width / 2 > o.right + 1).length,
    };
  });
  const slack = Number(range.step) + 1;
  const off = ex.ts.filter((t) => !(t >= Number(range.xMin) - slack && t <= Number(range.xMax) + slack));
  assert(!off.length, `${off.length} of ${ex.ts.length} exemplars lie outside the chart's time range (e.g. t=${off[0]})`);
  assert(ex.shown > 0 && !ex.outside, `${ex.shown} exemplar dots shown, ${ex.outside} of them outside the plot`);
  await shot('02a-exemplars');
  // A visible exemplar whose trace nerve has (checked through the API, so a missing trace
  // can't be mistaken for a UI failure).
  const candidates = await page.evaluate(() =>
    [...document.querySelectorAll('[data-testid=metrics-chart] [data-testid=exemplar]')]
      .map((b, i) => {
        const r = b.getBoundingClientRect();
        // Clickable: shown and not covered by a neighbouring dot.
        const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return { i, id: b.dataset.traceId, shown: b.style.display !== 'none' && r.width > 0, free: top === b };
      })
      .filter((c) => c.shown)
      .sort((a, b) => Number(b.free) - Number(a.free)),
  );
  assert(candidates.length, 'no visible exemplar');
  let target = '';
  let index = -1;
  for (const c of candidates.slice(0, 15)) {
    if (await traceExists(c.id)) {
      target = c.id;
      index = c.i;
      break;
    }
  }
  assert(target, 'none of the exemplars\' traces is stored in nerve');
  await page.evaluate((i) => document.querySelectorAll('[data-testid=metrics-chart] [data-testid=exemplar]')[i].setAttribute('data-e2e-target', '1'), index);
  const dot = page.locator('[data-e2e-target="1"]');
  try {
    await dot.click({ timeout: 5000 });
  } catch (e) {
    log(`pointer click did not land (${e.message.split('\n').find((l) => l.includes('intercepts')) ?? e.message.split('\n')[0]}); using the keyboard`);
    // Overlapping dots can intercept the pointer: the keyboard path opens it the same way.
    await dot.focus();
    await page.keyboard.press('Enter');
  }
  await page.waitForURL((u) => u.hash.startsWith(`#/trace/${target}`), { timeout: 10_000 }).catch(() => {
    throw new StepError(`clicking the exemplar did not open trace ${target} (at ${page.url()})`);
  });
  await expectWaterfall(target);
  log(`exemplar → trace ${target}`);
});

// 3. Logs → trace-id link → waterfall.
let logTrace = '';
await step('03-logs-to-trace', async () => {
  await page.goto(`${BASE}/#/logs?from=now-15m&to=now-5s`);
  await runQuery('logql-input', '{service_name="frontend"}');
  await page.waitForSelector('[data-testid=log-line] [data-testid=trace-link]').catch(() => {
    throw new StepError('no log line with a trace link');
  });
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=logs-volume]');
    return v && Number(v.dataset.points) > 0;
  }).catch(() => {
    throw new StepError('the log volume histogram has no data');
  });
  await expectChartRange('logs-volume', 900 - 5, Date.now() / 1000 - 30);
  await shot('03a-logs');
  const rows = page.locator('[data-testid=log-line]').filter({ has: page.getByTestId('trace-link') });
  let row = rows.first();
  for (let i = 0, n = Math.min(10, await rows.count()); i < n; i++) {
    if (await traceExists(await rows.nth(i).getAttribute('data-trace-id'))) {
      row = rows.nth(i);
      break;
    }
  }
  logTrace = await row.getAttribute('data-trace-id');
  assert(/^[0-9a-f]{16,32}$/.test(logTrace || ''), `bad trace id on the log line: ${logTrace}`);
  await row.getByTestId('trace-link').click();
  await page.waitForURL((u) => u.hash.startsWith(`#/trace/${logTrace}`));
  await expectWaterfall(logTrace);
  log(`log line → trace ${logTrace}`);
});

// 4. A span in the waterfall → its logs; every line carries the trace id.
await step('04-span-to-logs', async () => {
  const details = page.getByTestId('span-details');
  if (!(await details.isVisible())) await page.getByTestId('span-select').first().click();
  await details.waitFor();
  await page.getByTestId('span-logs').click();
  await page.waitForURL((u) => u.hash.startsWith('#/logs') && u.hash.includes(`trace=${logTrace}`));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length > 0 || document.querySelector('[data-testid=logs-empty],[data-testid=error]')).catch(() => {
    throw new StepError('the span-logs page did not load');
  });
  const ids = await page.$$eval('[data-testid=log-line]', (els) => els.map((e) => e.getAttribute('data-trace-id')));
  assert(ids.length > 0, `no log lines for trace ${logTrace}`);
  const wrong = ids.filter((id) => id !== logTrace);
  assert(!wrong.length, `${wrong.length} of ${ids.length} lines carry another trace id (${wrong[0]})`);
  log(`${ids.length} lines, all with trace ${logTrace}`);
});

// 5. Service graph → a service's RED panel with data in all three charts.
await step('05-red-panel', async () => {
  await page.goto(`${BASE}/#/service-graph?from=now-15m&to=now`);
  await page.waitForSelector('[data-testid=graph-node]').catch(() => {
    throw new StepError('the service graph has no nodes');
  });
  await shot('05a-service-graph');
  const node = page.locator('[data-testid=graph-node][data-service="frontend"]');
  await ((await node.count()) ? node : page.getByTestId('graph-node').first()).click();
  await page.waitForURL((u) => u.hash.startsWith('#/red'));
  for (const id of ['red-rate', 'red-errors', 'red-duration']) {
    await page
      .waitForFunction((t) => {
        const c = document.querySelector(`[data-testid=${t}]`);
        return c && c.querySelector('canvas') && Number(c.dataset.points) > 0;
      }, id)
      .catch(() => {
        throw new StepError(`RED chart ${id} has no data`);
      });
  }
  for (const id of ['red-rate', 'red-errors', 'red-duration']) await expectChartRange(id, 900, Date.now() / 1000 - 30);
  const pts = await page.$$eval('[data-testid^=red-][data-points]', (els) => els.map((e) => `${e.dataset.testid}=${e.dataset.points}`));
  log(`RED: ${pts.join(' ')}`);
});

// 5b. The dark theme: the RED charts redraw in its palette; the step's screenshot is the
// metrics page with exemplars in the dark theme (kept for step 6's status page).
await step('05b-dark-theme', async () => {
  await page.getByTestId('theme-toggle').click();
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=red-rate]')?.dataset.visiblePoints) > 0);
  await shot('05c-dark-red');
  await page.goto(`${BASE}/#/metrics?from=now-15m&to=now&query=${q('histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))')}`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=metrics-chart] [data-testid=exemplar]').length > 0);
  assert(await page.evaluate(() => document.documentElement.dataset.theme === 'dark'), 'the theme did not stay dark across pages');
});

// 6. First render and transferred bytes on a fresh load.
await step('06-first-render', async () => {
  const fresh = await context.newPage();
  fresh.on('pageerror', (e) => pageErrors.push(e.message));
  const cdp = await context.newCDPSession(fresh);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await fresh.goto(`${BASE}/#/status`);
  await fresh.waitForFunction(() => performance.getEntriesByName('nerve-rendered').length > 0, undefined, { timeout: 10_000 });
  const m = await fresh.evaluate(() => {
    const r = performance.getEntriesByName('nerve-rendered')[0].startTime;
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/assets/'));
    return {
      render: r,
      assets: res.map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize, body: e.encodedBodySize, decoded: e.decodedBodySize })),
      html: nav ? nav.transferSize : 0,
    };
  });
  await fresh.waitForSelector('[data-testid=status-build] table').catch(() => {});
  const errors = await fresh.$$eval('[data-testid=error]', (els) => els.map((e) => e.textContent));
  assert(!errors.length, `the status page shows errors: ${errors.join('; ')}`);
  await fresh.screenshot({ path: join(SHOTS, '06-first-render.png') });
  await fresh.close();
  const total = m.assets.reduce((n, a) => n + a.transfer, 0) + m.html;
  for (const a of m.assets) log(`asset ${a.name}: ${a.transfer} B transferred (${a.decoded} B decoded)`);
  console.log(`first render: ${m.render.toFixed(0)} ms (navigation start → app rendered)`);
  console.log(`transferred: ${total} B (index.html ${m.html} B + ${m.assets.length} assets)`);
  assert(m.assets.length >= 2, `expected app.js and app.css under /assets/, saw ${m.assets.map((a) => a.name).join(', ')}`);
  assert(m.render > 0 && m.render < RENDER_BUDGET, `first render took ${m.render.toFixed(0)} ms (budget ${RENDER_BUDGET} ms)`);
}, true);

// 7. Panning a 10k-point chart: measured, not asserted (CI machines are loaded). One series
// of 10,801 samples (3 h at a 1 s step; Prometheus' limit is 11,000 per series), panned by
// Shift+drag in 60 animation frames, 1% of the range per frame, back and forth within ±7% so
// that every frame still draws ≥ 10,000 points. The drag is made of synthetic mouse events
// dispatched where real ones land (on the plot's overlay, bubbling to the window), so it runs
// the chart's own pan handler and uPlot's cursor tracking. Fails only if the chart mixed the
// previous result with this one's attributes on the way here, holds or draws fewer than 10,000
// points, a frame did not move the x axis by its 1%, or panning threw.
await step('07-pan-10k', async () => {
  const MIN_POINTS = 10_000;
  const FRAMES = 60;
  const AMPLITUDE = 7; // % of the range either side of the queried one
  await page.mouse.move(1, 1); // the real pointer stays off the plot
  // Reached by a hash change on the same document (as the app's links and time picker do),
  // from step 5b's chart (another query, 15 min, auto step). Until the new result arrives the
  // chart may keep the previous one, but only under that one's own range and step (and
  // data-stale): every state of the chart's attributes seen on the way, sampled on each DOM
  // mutation and animation frame, is either wholly the previous result or wholly the new one.
  const hash = `#/metrics?query=${q('sin(vector(time() / 60))')}&from=now-3h&to=now&step=1s&exemplars=0`;
  const states = await page.evaluate(
    ({ hash, timeoutMs }) =>
      new Promise((resolve) => {
        const states = [];
        const pick = () => {
          const d = document.querySelector('[data-testid=metrics-chart]')?.dataset;
          return d ? { step: d.step, span: Number(d.rangeEnd) - Number(d.rangeStart), points: Number(d.points), xMin: d.xMin, xMax: d.xMax, rangeStart: d.rangeStart, rangeEnd: d.rangeEnd, stale: d.stale } : null;
        };
        const record = () => states.push(pick());
        record(); // before the change: the previous result
        const mo = new MutationObserver(record);
        mo.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-step', 'data-range-start', 'data-range-end', 'data-points', 'data-x-min', 'data-x-max', 'data-stale'] });
        const t0 = performance.now();
        const frame = () => {
          record();
          const c = states[states.length - 1];
          if ((c && c.step === '1' && !c.stale && c.xMax !== undefined) || performance.now() - t0 > timeoutMs) {
            mo.disconnect();
            resolve(states);
          } else requestAnimationFrame(frame);
        };
        location.hash = hash;
        requestAnimationFrame(frame);
      }),
    { hash, timeoutMs: 15_000 },
  );
  const last = states[states.length - 1];
  if (!(last && last.step === '1' && !last.stale)) {
    const err = await page.getByTestId('error').first().textContent({ timeout: 500 }).catch(() => '');
    throw new StepError(`the 10k-point chart has no data${err ? `: ${err}` : ''}`);
  }
  const prev = states[0];
  const isPrev = (c) => prev && c.step === prev.step && c.span === prev.span && c.points === prev.points;
  const isNew = (c) => c.step === '1' && Math.abs(c.span - 10_800) < 1 && c.points >= MIN_POINTS;
  const mixed = states.slice(1).filter((c) => c && !isPrev(c) && !isNew(c));
  assert(!mixed.length, `while the query changed, the chart's attributes mixed two results: ${JSON.stringify(mixed[0])} (previous: ${JSON.stringify(prev)})`);
  // A drawn x axis is always the chart's own range (the axis is locked: nothing panned yet).
  const offAxis = states.filter((c) => c && c.xMin !== undefined && (Number(c.xMin) !== Number(c.rangeStart) || Number(c.xMax) !== Number(c.rangeEnd)));
  assert(!offAxis.length, `the drawn x axis differs from the chart's data-range: ${JSON.stringify(offAxis[0])}`);
  const kept = states.slice(1).filter((c) => c && isPrev(c));
  assert(kept.every((c) => c.stale === '1'), 'the previous result stayed on screen without data-stale while the new query loaded');
  log(`query change: ${states.length} chart states sampled, ${kept.length} of them the previous result (marked stale), none mixed`);
  const a = await page.getByTestId('metrics-chart').evaluate((el) => ({ ...el.dataset }));
  assert(Number(a.points) >= MIN_POINTS, `the chart holds ${a.points} points, expected ≥ ${MIN_POINTS}`);
  assert(Number(a.visiblePoints) >= MIN_POINTS, `the chart draws ${a.visiblePoints} of its ${a.points} points, expected ≥ ${MIN_POINTS}`);

  const r = await page.evaluate(
    ({ frames, amplitude }) =>
      new Promise((resolve) => {
        const host = document.querySelector('[data-testid=metrics-chart]');
        const over = host.querySelector('.u-over');
        const box = over.getBoundingClientRect();
        const cx = Math.round(box.left + box.width / 2);
        const cy = Math.round(box.top + box.height / 2);
        const xMin0 = Number(host.dataset.xMin);
        const span = Number(host.dataset.xMax) - xMin0;
        // Offsets (% of the range, + = later) of a triangle wave stepping 1% per frame.
        const offsets = [];
        for (let o = 0, dir = 1; offsets.length < frames; ) {
          if (Math.abs(o + dir) > amplitude) dir = -dir;
          offsets.push((o += dir));
        }
        const errors = [];
        const onError = (e) => errors.push(e.message);
        window.addEventListener('error', onError);
        // Dragging right shows earlier times: a later window is a drag to the left.
        const fire = (type, pct) => {
          const clientX = cx - Math.round((pct / 100) * box.width);
          over.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, view: window, shiftKey: true, button: 0, buttons: type === 'mouseup' ? 0 : 1, clientX, clientY: cy }));
        };
        const out = { xMin0, span, offsets, frameMs: [], workMs: [], xMins: [], visible: [], errors };
        const finish = () => {
          clearTimeout(guard);
          window.removeEventListener('error', onError);
          resolve(out);
        };
        const guard = setTimeout(() => {
          errors.push(`only ${out.workMs.length} of ${frames} frames ran within 15 s`);
          finish();
        }, 15_000);
        let last = 0;
        let i = 0;
        const frame = (ts) => {
          try {
            if (i > 0) out.frameMs.push(ts - last);
            last = ts;
            if (i === frames) {
              fire('mouseup', offsets[frames - 1]);
              finish();
              return;
            }
            if (i === 0) fire('mousedown', 0);
            const t0 = performance.now();
            fire('mousemove', offsets[i]);
            // uPlot redraws in a microtask queued by setScale; this one runs right after it.
            queueMicrotask(() => {
              out.workMs.push(performance.now() - t0);
              out.xMins.push(Number(host.dataset.xMin));
              out.visible.push(Number(host.dataset.visiblePoints));
            });
            i++;
            requestAnimationFrame(frame);
          } catch (e) {
            errors.push(e.message);
            finish();
          }
        };
        requestAnimationFrame(frame);
      }),
    { frames: FRAMES, amplitude: AMPLITUDE },
  );
  assert(!r.errors.length && !pageErrors.length, `panning threw: ${[...r.errors, ...pageErrors].join('; ')}`);
  assert(r.workMs.length === FRAMES, `${r.workMs.length} of ${FRAMES} pan frames ran`);
  // Every frame moved the x axis by 1% of the range (±0.5%, pixels being whole) its way.
  const bad = [];
  r.xMins.forEach((x, k) => {
    const prev = k ? r.xMins[k - 1] : r.xMin0;
    const moved = ((x - prev) / r.span) * 100;
    const want = r.offsets[k] - (k ? r.offsets[k - 1] : 0);
    if (!(Math.abs(moved - want) <= 0.5)) bad.push(`frame ${k + 1}: ${moved.toFixed(2)}% (want ${want}%)`);
  });
  assert(!bad.length, `the chart did not follow the pan in ${bad.length} of ${FRAMES} frames (${bad.slice(0, 3).join(', ')})`);
  assert(r.xMins[FRAMES - 1] !== r.xMin0, 'the x axis ends where it started');
  const minVisible = Math.min(...r.visible);
  assert(minVisible >= MIN_POINTS, `a pan frame drew only ${minVisible} points, expected ≥ ${MIN_POINTS}`);
  const stats = (v) => {
    const s = [...v].sort((x, y) => x - y);
    const at = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
    return `median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms`;
  };
  const shift = (((r.xMins[FRAMES - 1] - r.xMin0) / r.span) * 100).toFixed(1);
  console.log(`pan 10k: ${a.points} points (${minVisible}–${Math.max(...r.visible)} drawn per frame), ${FRAMES} frames, ends ${shift}% along`);
  console.log(`pan 10k: frame time (rAF to rAF) ${stats(r.frameMs)}`);
  console.log(`pan 10k: setScale + redraw ${stats(r.workMs)}`);
});

// 8 (optional). Login: a nerve that requires a bearer token for reading (NERVE_AUTH_URL, no
// demo data needed). The UI shows its own form instead of data, refuses a wrong token, then
// takes the right one (kept for the tab) and runs the metrics query with it; signing out
// brings the form back.
if (AUTH_BASE && AUTH_TOKEN) {
  await step('08-login', async () => {
    const probe = await fetch(`${AUTH_BASE}/api/v1/query?query=${q('vector(1)')}`);
    await probe.arrayBuffer();
    assert(probe.status === 401, `${AUTH_BASE} answers a query without credentials with HTTP ${probe.status}, not 401: it does not require auth`);
    const authed = await fetch(`${AUTH_BASE}/api/v1/query?query=${q('vector(1)')}`, { headers: { Authorization: `Bearer ${AUTH_TOKEN}` } });
    await authed.arrayBuffer();
    assert(authed.ok, `${AUTH_BASE} refuses NERVE_AUTH_TOKEN itself (HTTP ${authed.status})`);

    const p = await context.newPage(); // its own sessionStorage: no credentials yet
    p.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      await p.goto(`${AUTH_BASE}/#/metrics?query=${q('vector(1)')}&from=now-15m&to=now`);
      await p.getByTestId('login').waitFor({ timeout: 10_000 }).catch(() => {
        throw new StepError('no login form on a nerve that answers 401');
      });
      assert(!(await p.getByTestId('metrics-chart').count()), 'a chart is drawn behind the login form');
      await p.getByTestId('login-token').click();
      await p.getByTestId('login-token-input').fill(`wrong-${AUTH_TOKEN}`);
      await p.getByTestId('login-submit').click();
      await p.getByTestId('login-error').waitFor({ timeout: 5000 }).catch(() => {
        throw new StepError('a wrong token was not refused with a message');
      });
      await p.getByTestId('login-token-input').fill(AUTH_TOKEN);
      await p.getByTestId('login-token-input').press('Enter');
      await p.getByTestId('login').waitFor({ state: 'detached', timeout: 5000 }).catch(async () => {
        const err = await p.getByTestId('login-error').textContent({ timeout: 500 }).catch(() => '');
        throw new StepError(`the login form stayed after the right token${err ? `: ${err}` : ''}`);
      });
      await p
        .waitForFunction(() => {
          const d = document.querySelector('[data-testid=metrics-chart]')?.dataset;
          return d && !d.stale && Number(d.points) > 0 && d.xMax && Math.abs(d.rangeEnd - d.rangeStart - 900) < 1;
        }, undefined, { timeout: 10_000 })
        .catch(async () => {
          const err = await p.getByTestId('error').first().textContent({ timeout: 500 }).catch(() => '');
          throw new StepError(`no metrics chart after signing in${err ? `: ${err}` : ''}`);
        });
      const kept = await p.evaluate(() => sessionStorage.getItem('nerve.auth'));
      assert(kept === `Bearer ${AUTH_TOKEN}`, `the tab keeps ${kept === null ? 'no' : 'other'} credentials`);
      const pts = await p.getByTestId('metrics-chart').getAttribute('data-points');
      await p.screenshot({ path: join(SHOTS, '08-login.png') });
      await p.getByTestId('logout').click();
      await p.getByTestId('login').waitFor({ timeout: 5000 }).catch(() => {
        throw new StepError('signing out did not bring the login form back');
      });
      log(`login: form shown, wrong token refused, token accepted (${pts} points of vector(1)), sign-out asks again`);
    } finally {
      await p.close();
    }
  }, true);
} else if (AUTH_BASE || AUTH_TOKEN) {
  log('skipping 08-login: set both NERVE_AUTH_URL and NERVE_AUTH_TOKEN');
}

clearTimeout(killer);
await cleanup();
log('done');
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
