// Light/dark theme (remembered in localStorage, defaulting to prefers-color-scheme) and the
// colour-blind-safe Okabe–Ito palette used for every series.
import { useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';
const KEY = 'nerve.theme';
const EVENT = 'nerve-theme';

function stored(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    return null;
  }
}

function systemTheme(): Theme {
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function currentTheme(): Theme {
  return stored() ?? systemTheme();
}

export function applyTheme(): void {
  document.documentElement.dataset.theme = currentTheme();
}

export function setTheme(t: Theme): void {
  try {
    localStorage.setItem(KEY, t);
  } catch {
    /* not remembered */
  }
  applyTheme();
  window.dispatchEvent(new Event(EVENT));
}

export function useTheme(): Theme {
  const [t, setT] = useState(currentTheme);
  useEffect(() => {
    const on = () => {
      applyTheme();
      setT(currentTheme());
    };
    const mq = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
    // Another tab switching the theme writes localStorage: follow it.
    const onStorage = (e: StorageEvent) => (e.key === KEY || e.key === null) && on();
    window.addEventListener(EVENT, on);
    window.addEventListener('storage', onStorage);
    mq?.addEventListener?.('change', on);
    return () => {
      window.removeEventListener(EVENT, on);
      window.removeEventListener('storage', onStorage);
      mq?.removeEventListener?.('change', on);
    };
  }, []);
  return t;
}

// Okabe & Ito (2008), ordered for contrast on each background.
const LIGHT = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#56B4E9', '#CC79A7', '#000000', '#B8A800'];
const DARK = ['#56B4E9', '#E69F00', '#009E73', '#F0E442', '#D55E00', '#CC79A7', '#FFFFFF', '#3E9BE0'];

export function palette(t: Theme = currentTheme()): string[] {
  return t === 'dark' ? DARK : LIGHT;
}

export function seriesColor(i: number, t: Theme = currentTheme()): string {
  const p = palette(t);
  return p[i % p.length];
}

/** Colours of log levels (same palette: vermillion errors, orange warnings). */
export function levelColor(level: string, t: Theme = currentTheme()): string {
  const l = level.toLowerCase();
  if (/^(err|error|fatal|crit|critical|alert|emerg|panic)/.test(l)) return '#D55E00';
  if (/^warn/.test(l)) return '#E69F00';
  if (/^info|^notice/.test(l)) return t === 'dark' ? '#56B4E9' : '#0072B2';
  if (/^debug|^trace/.test(l)) return '#009E73';
  return t === 'dark' ? '#9aa0a6' : '#6b7280';
}

/** Stable colour per service name. */
export function serviceColor(name: string, t: Theme = currentTheme()): string {
  let h = 2166136261; // FNV-1a
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  const p = palette(t).filter((_, i) => i !== 6); // skip black/white
  return p[h % p.length];
}

export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
