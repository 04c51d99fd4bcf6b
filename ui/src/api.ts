// HTTP access to nerve's APIs: one fetch wrapper that adds the stored credentials, turns
// every failure into an ApiError carrying the API's own message, and reports 401s so the
// app can show its login form.

const AUTH_KEY = 'nerve.auth';

export class ApiError extends Error {
  status: number;
  errorType: string;
  constructor(message: string, status: number, errorType = '') {
    super(message);
    this.status = status;
    this.errorType = errorType;
  }
}

export function getAuth(): string | null {
  try {
    return sessionStorage.getItem(AUTH_KEY);
  } catch {
    return null;
  }
}

export function setAuth(value: string | null): void {
  try {
    if (value) sessionStorage.setItem(AUTH_KEY, value);
    else sessionStorage.removeItem(AUTH_KEY);
  } catch {
    /* storage unavailable: credentials live only as long as this page */
  }
}

/** `Authorization` header value for basic auth (UTF-8 safe). */
export function basicAuth(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  bytes.forEach((b) => (bin += String.fromCharCode(b)));
  return `Basic ${btoa(bin)}`;
}

type AuthListener = (challenge: string) => void;
let authListener: AuthListener | null = null;
export function onAuthRequired(fn: AuthListener | null): void {
  authListener = fn;
}

export type ParamValue = string | number | undefined | null | string[];
export type Params = Record<string, ParamValue>;

export function queryString(params?: Params): string {
  if (!params) return '';
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => sp.append(k, x));
    else sp.append(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

export interface RequestOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** Extracts the most useful error text from an API answer of any of nerve's dialects. */
function errorMessage(body: unknown, text: string, res: Response): { msg: string; type: string } {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (typeof b.error === 'string' && b.error) return { msg: b.error, type: String(b.errorType ?? '') };
    if (Array.isArray(b.errors) && b.errors.length) {
      const e0 = b.errors[0] as Record<string, unknown>;
      if (e0 && typeof e0.msg === 'string') return { msg: e0.msg, type: '' };
    }
    if (typeof b.message === 'string' && b.message) return { msg: b.message, type: '' };
  }
  const t = text.trim();
  return { msg: t || `${res.status} ${res.statusText}`, type: '' };
}

/** GET `path` with `params`; the parsed JSON body, or an ApiError. */
export async function getJSON<T = unknown>(path: string, params?: Params, opts: RequestOptions = {}): Promise<T> {
  // X-Requested-With lets a server skip its `WWW-Authenticate: Basic` challenge for the UI's own
  // requests (so no browser ever shows its native dialog over the app's login form).
  const headers: Record<string, string> = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', ...opts.headers };
  const auth = getAuth();
  if (auth) headers.Authorization = auth;
  let res: Response;
  try {
    // credentials: 'omit' keeps the browser from answering the server's Basic challenge with
    // its own dialog: the app asks with its own form and sends the header itself.
    res = await fetch(path + queryString(params), { headers, signal: opts.signal, credentials: 'omit' });
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(`cannot reach nerve: ${(e as Error).message}`, 0);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (res.status === 401) {
    authListener?.(res.headers.get('WWW-Authenticate') || '');
    const { msg } = errorMessage(body, text, res);
    throw new ApiError(`authentication required (${msg})`, 401, 'unauthorized');
  }
  const status = body && typeof body === 'object' ? (body as Record<string, unknown>).status : undefined;
  if (!res.ok || status === 'error') {
    const { msg, type } = errorMessage(body, text, res);
    throw new ApiError(msg, res.status, type);
  }
  if (body === undefined) throw new ApiError(`${path}: the answer is not JSON`, res.status);
  return body as T;
}

/** A Prometheus-style `{status, data, warnings}` envelope. */
export interface Envelope<T> {
  status: string;
  data: T;
  warnings?: string[];
  infos?: string[];
}

export async function promData<T>(path: string, params?: Params, opts?: RequestOptions): Promise<Envelope<T>> {
  return getJSON<Envelope<T>>(path, params, opts);
}

// ---- Prometheus result shapes ----------------------------------------------------------

export type Labels = Record<string, string>;
export type SamplePair = [number, string];
export interface MatrixSeries {
  metric: Labels;
  values?: SamplePair[];
}
export interface VectorSample {
  metric: Labels;
  value: SamplePair;
}
export type QueryData =
  | { resultType: 'matrix'; result: MatrixSeries[] }
  | { resultType: 'vector'; result: VectorSample[] }
  | { resultType: 'scalar'; result: SamplePair }
  | { resultType: 'string'; result: SamplePair }
  | { resultType: 'streams'; result: LokiStream[]; encodingFlags?: string[] };

export interface Exemplar {
  labels: Labels;
  value: string;
  timestamp: number;
}
export interface ExemplarSeries {
  seriesLabels: Labels;
  exemplars: Exemplar[];
}

// ---- Loki result shapes ----------------------------------------------------------------

export interface EntryMeta {
  structuredMetadata?: Labels;
  parsed?: Labels;
}
export type LokiEntry = [string, string] | [string, string, EntryMeta];
export interface LokiStream {
  stream: Labels;
  values: LokiEntry[];
}

/** Formats `{a="b", c="d"}` (with `__name__` in front when present). */
export function formatLabels(l: Labels, withName = true): string {
  const name = withName ? l.__name__ ?? '' : '';
  const inner = Object.keys(l)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(l[k])}`)
    .join(', ');
  return `${name}{${inner}}`;
}

// ---- small cache for autocomplete lists --------------------------------------------------

const cache = new Map<string, { at: number; p: Promise<unknown> }>();
export function cached<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T> {
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && now - hit.at < ttlMs) return hit.p as Promise<T>;
  const p = load();
  cache.set(key, { at: now, p });
  p.catch(() => cache.delete(key));
  return p;
}
