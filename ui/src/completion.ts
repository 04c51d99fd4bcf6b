// Autocomplete for PromQL, LogQL and TraceQL: works out from the text before the cursor what
// is being typed (metric, label name, label value, duration, function, attribute) and asks
// the matching API for candidates.
import { cached, getJSON, promData } from './api';

export interface Completion {
  label: string;
  insert: string;
  detail?: string;
}
export interface CompletionResult {
  from: number;
  to: number;
  items: Completion[];
}
export type Language = 'promql' | 'logql' | 'traceql';

const TTL = 60_000;

const PROM_FUNCS = [
  'abs', 'absent', 'absent_over_time', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min',
  'count_over_time', 'day_of_month', 'day_of_week', 'days_in_month', 'delta', 'deriv', 'exp', 'floor',
  'histogram_quantile', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace',
  'last_over_time', 'ln', 'log10', 'log2', 'max_over_time', 'min_over_time', 'minute', 'month',
  'predict_linear', 'present_over_time', 'quantile_over_time', 'rate', 'resets', 'round', 'scalar', 'sgn',
  'sort', 'sort_desc', 'sqrt', 'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'time', 'timestamp',
  'vector', 'year',
];
const PROM_AGGS = ['sum', 'avg', 'min', 'max', 'count', 'count_values', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile'];
const PROM_KEYWORDS = ['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless'];
const LOGQL_FUNCS = [
  'count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time', 'avg_over_time', 'max_over_time',
  'min_over_time', 'first_over_time', 'last_over_time', 'stddev_over_time', 'stdvar_over_time',
  'quantile_over_time', 'absent_over_time', 'rate_counter', 'sum', 'avg', 'min', 'max', 'count', 'stddev',
  'stdvar', 'topk', 'bottomk', 'sort', 'sort_desc', 'by', 'without', 'vector',
];
const LOGQL_STAGES = ['json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'drop', 'keep', 'unwrap', 'decolorize'];
const DURATIONS = ['1m', '5m', '10m', '15m', '30m', '1h', '6h', '1d', '$__rate_interval'];
const TRACEQL_INTRINSICS = ['name', 'status', 'statusMessage', 'kind', 'duration', 'rootName', 'rootServiceName', 'traceDuration', 'span:id', 'trace:id'];
const TRACEQL_VALUES: Record<string, string[]> = {
  status: ['error', 'ok', 'unset'],
  kind: ['server', 'client', 'producer', 'consumer', 'internal', 'unspecified'],
};

interface Scan {
  braceStart: number; // index of the unclosed `{`, or -1
  stringStart: number; // index of the unclosed quote, or -1
  bracketStart: number; // index of the unclosed `[`, or -1
  parens: { at: number; word: string }[]; // unclosed `(` with the word before each
  afterPipe: boolean;
}

function scan(s: string): Scan {
  const r: Scan = { braceStart: -1, stringStart: -1, bracketStart: -1, parens: [], afterPipe: false };
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) {
        quote = '';
        r.stringStart = -1;
      }
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      quote = c;
      r.stringStart = i;
    } else if (c === '{') r.braceStart = i;
    else if (c === '}') r.braceStart = -1;
    else if (c === '[') r.bracketStart = i;
    else if (c === ']') r.bracketStart = -1;
    else if (c === '(') {
      const m = /([A-Za-z_][\w]*)\s*$/.exec(s.slice(0, i));
      r.parens.push({ at: i, word: m ? m[1] : '' });
    } else if (c === ')') r.parens.pop();
  }
  const pipe = /\|\s*([a-z_]*)$/.exec(s);
  r.afterPipe = !!pipe && r.braceStart < 0;
  return r;
}

function rank(items: Completion[], prefix: string, max = 60): Completion[] {
  const p = prefix.toLowerCase();
  const starts: Completion[] = [];
  const contains: Completion[] = [];
  for (const it of items) {
    const l = it.label.toLowerCase();
    if (l === p) continue;
    if (l.startsWith(p)) starts.push(it);
    else if (p && l.includes(p)) contains.push(it);
  }
  return starts.concat(contains).slice(0, max);
}

const plain = (xs: string[], detail?: string): Completion[] => xs.map((x) => ({ label: x, insert: x, detail }));

async function promMetricNames(): Promise<string[]> {
  return cached('prom:names', TTL, async () => (await promData<string[]>('/api/v1/label/__name__/values')).data);
}
async function promLabelNames(metric: string): Promise<string[]> {
  return cached(`prom:labels:${metric}`, TTL, async () =>
    (await promData<string[]>('/api/v1/labels', { 'match[]': metric ? [metric] : undefined })).data.filter((l) => l !== '__name__'),
  );
}
async function promLabelValues(name: string, metric: string): Promise<string[]> {
  return cached(`prom:values:${name}:${metric}`, TTL, async () =>
    (await promData<string[]>(`/api/v1/label/${encodeURIComponent(name)}/values`, { 'match[]': metric ? [metric] : undefined })).data,
  );
}
async function lokiLabelNames(): Promise<string[]> {
  return cached('loki:labels', TTL, async () => (await promData<string[]>('/loki/api/v1/labels')).data ?? []);
}
async function lokiLabelValues(name: string): Promise<string[]> {
  return cached(`loki:values:${name}`, TTL, async () => (await promData<string[]>(`/loki/api/v1/label/${encodeURIComponent(name)}/values`)).data ?? []);
}
async function tempoTags(): Promise<string[]> {
  return cached('tempo:tags', TTL, async () => (await getJSON<{ tagNames: string[] }>('/tempo/api/search/tags')).tagNames ?? []);
}
async function tempoTagValues(tag: string): Promise<string[]> {
  return cached(`tempo:values:${tag}`, TTL, async () =>
    (await getJSON<{ tagValues: string[] }>(`/tempo/api/search/tag/${encodeURIComponent(tag)}/values`)).tagValues ?? [],
  );
}

const quoteValue = (v: string) => JSON.stringify(v);

export async function complete(lang: Language, text: string, pos: number): Promise<CompletionResult | null> {
  const before = text.slice(0, pos);
  const sc = scan(before);
  const after = text.slice(pos);

  // A label / attribute value inside a string.
  if (sc.stringStart >= 0 && sc.braceStart >= 0 && sc.stringStart > sc.braceStart) {
    const head = before.slice(sc.braceStart + 1, sc.stringStart);
    const m = /([A-Za-z_.:][\w.:]*)\s*(=~|!~|!=|=|>=|<=|>|<)\s*$/.exec(head);
    if (!m) return null;
    const prefix = before.slice(sc.stringStart + 1);
    const close = after.startsWith('"') ? '' : '"';
    const values = await labelValues(lang, m[1], metricBefore(before, sc.braceStart));
    const items = values.map((v) => ({ label: v, insert: v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + close }));
    return { from: sc.stringStart + 1, to: pos, items: rank(items, prefix) };
  }
  if (sc.stringStart >= 0) return null;

  // A duration in `[...]`.
  if (sc.bracketStart >= 0 && lang !== 'traceql') {
    const prefix = before.slice(sc.bracketStart + 1);
    return { from: sc.bracketStart + 1, to: pos, items: rank(plain(DURATIONS, 'range'), prefix) };
  }

  const wordRe = lang === 'traceql' ? /[A-Za-z_.:][\w.:]*$/ : /[A-Za-z_:][\w:]*$/;
  const wm = wordRe.exec(before);
  const prefix = wm ? wm[0] : '';
  const from = pos - prefix.length;

  if (sc.braceStart >= 0) {
    const inner = before.slice(sc.braceStart + 1, from);
    // A value without its quote yet: offer quoted values.
    const op = /([A-Za-z_.:][\w.:]*)\s*(=~|!~|!=|=|>=|<=|>|<)\s*$/.exec(inner);
    if (op) {
      const values = await labelValues(lang, op[1], metricBefore(before, sc.braceStart));
      if (lang === 'traceql' && !TRACEQL_VALUES[op[1]] && !values.length) return null;
      return { from, to: pos, items: rank(values.map((v) => ({ label: v, insert: lang === 'traceql' && TRACEQL_VALUES[op[1]] ? v : quoteValue(v) })), prefix) };
    }
    if (lang === 'traceql') {
      const tags = await tempoTags();
      const items = [
        ...plain(TRACEQL_INTRINSICS, 'intrinsic'),
        ...tags.flatMap((t) => [
          { label: `.${t}`, insert: `.${t}`, detail: 'attribute' },
          { label: `span.${t}`, insert: `span.${t}`, detail: 'span' },
          { label: `resource.${t}`, insert: `resource.${t}`, detail: 'resource' },
        ]),
      ];
      return { from, to: pos, items: rank(items, prefix) };
    }
    const names = lang === 'promql' ? await promLabelNames(metricBefore(before, sc.braceStart)) : await lokiLabelNames();
    return { from, to: pos, items: rank(plain(names, 'label'), prefix) };
  }
  if (lang === 'traceql') return null;

  const top = sc.parens[sc.parens.length - 1];
  if (top && /^(by|without|on|ignoring|group_left|group_right)$/.test(top.word)) {
    const names = lang === 'promql' ? await promLabelNames('') : await lokiLabelNames();
    return { from, to: pos, items: rank(plain(names, 'label'), prefix) };
  }
  if (lang === 'logql' && sc.afterPipe) {
    return { from, to: pos, items: rank(plain(LOGQL_STAGES, 'stage'), prefix) };
  }
  if (!prefix) return null;
  if (lang === 'logql') return { from, to: pos, items: rank(plain(LOGQL_FUNCS, 'function'), prefix) };
  const metrics = await promMetricNames();
  const items = [
    ...plain(metrics, 'metric'),
    ...plain(PROM_FUNCS, 'function'),
    ...plain(PROM_AGGS, 'aggregation'),
    ...plain(PROM_KEYWORDS, 'keyword'),
  ];
  return { from, to: pos, items: rank(items, prefix) };
}

function metricBefore(before: string, braceStart: number): string {
  const m = /([A-Za-z_:][\w:]*)\s*$/.exec(before.slice(0, braceStart));
  return m && !PROM_AGGS.includes(m[1]) ? m[1] : '';
}

async function labelValues(lang: Language, name: string, metric: string): Promise<string[]> {
  if (lang === 'promql') return promLabelValues(name, metric);
  if (lang === 'logql') return lokiLabelValues(name);
  if (TRACEQL_VALUES[name]) return TRACEQL_VALUES[name];
  const tag = name.replace(/^(span|resource|event|link)?\./, '');
  if (name === 'rootServiceName') return tempoTagValues('service.name');
  if (TRACEQL_INTRINSICS.includes(name)) return [];
  return tempoTagValues(tag);
}
