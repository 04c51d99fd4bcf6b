// Trace shapes: Jaeger search results and Tempo/OTLP JSON traces, normalised.
import { getJSON } from './api';

export interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  startTime: number; // µs
  duration: number; // µs
  tags: JaegerTag[];
  logs: { timestamp: number; fields: JaegerTag[] }[];
  processID: string;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootName: string;
  startMs: number;
  durationMs: number;
  spanCount: number;
  errorCount: number;
  services: { name: string; spans: number; errors: number }[];
}

export function summarizeJaeger(t: JaegerTrace): TraceSummary {
  const spans = t.spans ?? [];
  const ids = new Set(spans.map((s) => s.spanID));
  const roots = spans.filter((s) => !s.references?.some((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID)));
  const root = [...(roots.length ? roots : spans)].sort((a, b) => a.startTime - b.startTime)[0];
  let min = Infinity;
  let max = -Infinity;
  const svc = new Map<string, { spans: number; errors: number }>();
  let errors = 0;
  for (const s of spans) {
    min = Math.min(min, s.startTime);
    max = Math.max(max, s.startTime + s.duration);
    const name = t.processes?.[s.processID]?.serviceName ?? '?';
    const e = svc.get(name) ?? { spans: 0, errors: 0 };
    e.spans++;
    const isErr = s.tags?.some((g) => g.key === 'error' && (g.value === true || g.value === 'true'));
    if (isErr) {
      e.errors++;
      errors++;
    }
    svc.set(name, e);
  }
  return {
    traceId: t.traceID,
    rootService: root ? t.processes?.[root.processID]?.serviceName ?? '?' : '?',
    rootName: root?.operationName ?? '?',
    startMs: min / 1000,
    durationMs: (max - min) / 1000,
    spanCount: spans.length,
    errorCount: errors,
    services: [...svc.entries()].map(([name, v]) => ({ name, ...v })).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

export interface TempoSearchTrace {
  traceID: string;
  rootServiceName?: string;
  rootTraceName?: string;
  startTimeUnixNano: string;
  durationMs?: number;
  serviceStats?: Record<string, { spanCount: number; errorCount?: number }>;
  spanSets?: { matched: number }[];
}

export function nsToMs(ns: string | number): number {
  const s = String(ns);
  if (s.length <= 6) return Number(s) / 1e6;
  return Number(s.slice(0, -6)) + Number(s.slice(-6)) / 1e6;
}

export function summarizeTempo(t: TempoSearchTrace): TraceSummary {
  const stats = t.serviceStats ?? {};
  const services = Object.entries(stats)
    .map(([name, v]) => ({ name, spans: v.spanCount, errors: v.errorCount ?? 0 }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    traceId: t.traceID,
    rootService: t.rootServiceName ?? '?',
    rootName: t.rootTraceName ?? '?',
    startMs: nsToMs(t.startTimeUnixNano),
    durationMs: t.durationMs ?? 0,
    spanCount: services.reduce((n, s) => n + s.spans, 0),
    errorCount: services.reduce((n, s) => n + s.errors, 0),
    services,
  };
}

// ---- OTLP JSON (Tempo's /api/traces/{id}) ----------------------------------------------------

export interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: OtlpKV[] };
}
export interface OtlpKV {
  key: string;
  value: AnyValue;
}

export function anyValueText(v: AnyValue | undefined): string {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return `[${(v.arrayValue.values ?? []).map(anyValueText).join(', ')}]`;
  if (v.kvlistValue) return `{${(v.kvlistValue.values ?? []).map((kv) => `${kv.key}: ${anyValueText(kv.value)}`).join(', ')}}`;
  return '';
}

export type Attrs = [string, string][];
const attrs = (kvs: OtlpKV[] | undefined): Attrs => (kvs ?? []).map((kv) => [kv.key, anyValueText(kv.value)]);

export interface SpanEvent {
  ms: number;
  name: string;
  attributes: Attrs;
}
export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attrs;
}
export interface Span {
  traceId: string;
  spanId: string;
  parentId: string;
  name: string;
  kind: string;
  startMs: number;
  endMs: number;
  durationMs: number;
  status: { code: 'unset' | 'ok' | 'error'; message: string };
  service: string;
  attributes: Attrs;
  resource: Attrs;
  scope: { name: string; version: string };
  events: SpanEvent[];
  links: SpanLink[];
  traceState: string;
}

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS = ['unset', 'ok', 'error'] as const;

function kindName(k: unknown): string {
  if (typeof k === 'number') return KINDS[k] ?? String(k);
  if (typeof k === 'string') return k.replace(/^SPAN_KIND_/, '').toLowerCase();
  return 'unspecified';
}
function statusCode(c: unknown): 'unset' | 'ok' | 'error' {
  if (typeof c === 'number') return STATUS[c] ?? 'unset';
  if (typeof c === 'string') {
    const s = c.replace(/^STATUS_CODE_/, '').toLowerCase();
    return s === 'ok' || s === 'error' ? s : 'unset';
  }
  return 'unset';
}

/** OTLP ids arrive as hex (Tempo) or base64 (plain OTLP JSON); both become lower-case hex. */
export function idHex(id: string | undefined): string {
  if (!id) return '';
  if (/^[0-9a-fA-F]+$/.test(id) && (id.length === 16 || id.length === 32)) return id.toLowerCase();
  try {
    const bin = atob(id);
    let out = '';
    for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, '0');
    return out;
  } catch {
    return id.toLowerCase();
  }
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number | string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpKV[];
  events?: { timeUnixNano: string; name: string; attributes?: OtlpKV[] }[];
  links?: { traceId: string; spanId: string; attributes?: OtlpKV[] }[];
  status?: { code?: number | string; message?: string };
  traceState?: string;
}
interface OtlpBatch {
  resource?: { attributes?: OtlpKV[] };
  scopeSpans?: { scope?: { name?: string; version?: string }; spans?: OtlpSpan[] }[];
  instrumentationLibrarySpans?: { instrumentationLibrary?: { name?: string; version?: string }; spans?: OtlpSpan[] }[];
}
export interface OtlpTrace {
  batches?: OtlpBatch[];
  resourceSpans?: OtlpBatch[];
}

export function spansFromOtlp(t: OtlpTrace): Span[] {
  const out: Span[] = [];
  for (const b of t.batches ?? t.resourceSpans ?? []) {
    const resource = attrs(b.resource?.attributes);
    const service = resource.find(([k]) => k === 'service.name')?.[1] ?? 'unknown_service';
    const scopes = b.scopeSpans ?? (b.instrumentationLibrarySpans ?? []).map((s) => ({ scope: s.instrumentationLibrary, spans: s.spans }));
    for (const ss of scopes) {
      for (const s of ss.spans ?? []) {
        const startMs = nsToMs(s.startTimeUnixNano);
        const endMs = nsToMs(s.endTimeUnixNano);
        out.push({
          traceId: idHex(s.traceId),
          spanId: idHex(s.spanId),
          parentId: idHex(s.parentSpanId),
          name: s.name,
          kind: kindName(s.kind),
          startMs,
          endMs,
          durationMs: Math.max(0, endMs - startMs),
          status: { code: statusCode(s.status?.code), message: s.status?.message ?? '' },
          service,
          attributes: attrs(s.attributes),
          resource,
          scope: { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' },
          events: (s.events ?? []).map((e) => ({ ms: nsToMs(e.timeUnixNano), name: e.name, attributes: attrs(e.attributes) })),
          links: (s.links ?? []).map((l) => ({ traceId: idHex(l.traceId), spanId: idHex(l.spanId), attributes: attrs(l.attributes) })),
          traceState: s.traceState ?? '',
        });
      }
    }
  }
  return out.sort((a, b) => a.startMs - b.startMs);
}

export async function fetchTrace(id: string, signal?: AbortSignal): Promise<Span[]> {
  const t = await getJSON<OtlpTrace>(`/tempo/api/traces/${encodeURIComponent(id)}`, undefined, { signal });
  return spansFromOtlp(t);
}

export interface TreeRow {
  span: Span;
  depth: number;
  hasChildren: boolean;
}

/** Depth-first order (children by start time); spans whose parent is missing are roots. */
export function spanTree(spans: Span[], collapsed: Set<string>): TreeRow[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parentId && ids.has(s.parentId) && s.parentId !== s.spanId) {
      const c = children.get(s.parentId) ?? [];
      c.push(s);
      children.set(s.parentId, c);
    } else roots.push(s);
  }
  const out: TreeRow[] = [];
  const seen = new Set<string>();
  const walk = (s: Span, depth: number) => {
    if (seen.has(s.spanId)) return;
    seen.add(s.spanId);
    const kids = (children.get(s.spanId) ?? []).sort((a, b) => a.startMs - b.startMs);
    out.push({ span: s, depth, hasChildren: kids.length > 0 });
    if (!collapsed.has(s.spanId)) for (const k of kids) walk(k, depth + 1);
  };
  roots.sort((a, b) => a.startMs - b.startMs).forEach((r) => walk(r, 0));
  return out;
}

/** Jaeger's `tags` parameter from logfmt-ish `k=v k2="v 2"`. */
export function tagsToJSON(s: string): string {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  return Object.keys(out).length ? JSON.stringify(out) : '';
}
