// Hash routing: `#/<page>[/<arg>]?<params>`. All UI state lives in the hash so any view can
// be shared by its URL.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  path: string;
  segments: string[];
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  let h = hash.replace(/^#/, '');
  if (!h.startsWith('/')) h = '/metrics' + (h ? `?${h}` : '');
  const qi = h.indexOf('?');
  const path = qi < 0 ? h : h.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { path, segments: segments.length ? segments : ['metrics'], params };
}

export type HashParams = Record<string, string | number | boolean | undefined | null>;

export function href(path: string, params: HashParams = {}): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    sp.set(k, v === true ? '1' : String(v));
  }
  const q = sp.toString();
  return `#${path}${q ? `?${q}` : ''}`;
}

export function navigate(path: string, params: HashParams = {}, replace = false): void {
  const h = href(path, params);
  if (h === location.hash) return;
  if (replace) history.replaceState(null, '', h);
  else location.hash = h;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}

/** The current route, re-rendering on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** The route's params as a plain object (for building the next URL). */
export function paramsObject(p: URLSearchParams): Record<string, string> {
  const o: Record<string, string> = {};
  p.forEach((v, k) => (o[k] = v));
  return o;
}
