import { useEffect, useRef, useState } from 'preact/hooks';
import { isAbort } from './api';

export interface Async<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
}

/** Runs `load` whenever `deps` change, aborting the previous run. Errors are kept as text. */
export function useAsync<T>(load: ((signal: AbortSignal) => Promise<T>) | null, deps: unknown[]): Async<T> {
  const [state, setState] = useState<Async<T>>({ data: undefined, error: undefined, loading: !!load });
  useEffect(() => {
    if (!load) {
      setState({ data: undefined, error: undefined, loading: false });
      return;
    }
    const ctl = new AbortController();
    setState((s) => ({ data: s.data, error: undefined, loading: true }));
    load(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, error: undefined, loading: false });
      },
      (e) => {
        if (ctl.signal.aborted || isAbort(e)) return;
        setState({ data: undefined, error: e instanceof Error ? e.message : String(e), loading: false });
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

/** Calls `fn` on Escape while mounted. */
export function useEscape(fn: (() => void) | null): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && ref.current) ref.current();
    };
    window.addEventListener('keydown', on);
    return () => window.removeEventListener('keydown', on);
  }, []);
}
