import { useEffect, useRef, useState } from 'preact/hooks';
import { isAbort } from './api';

export interface Async<T> {
  /** The latest successful result; while `stale`, that of earlier deps than the current ones. */
  data: T | undefined;
  /** The error of the current deps' load (never an earlier one's). */
  error: string | undefined;
  /** The current deps' load has not finished (true from the very render that changed them). */
  loading: boolean;
  /**
   * `data` belongs to earlier deps (a new load is on its way): it describes the previous
   * request, so whatever is drawn from it must be labelled with that request's own
   * parameters (carry them in `data`), or not drawn.
   */
  stale: boolean;
}

interface State<T> {
  data: T | undefined;
  error: string | undefined;
  /** The deps `data`/`error` belong to (null: none yet). */
  deps: unknown[] | null;
  pending: boolean;
}

function sameDeps(a: unknown[] | null, b: unknown[]): boolean {
  return !!a && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/**
 * Runs `load` whenever `deps` change, aborting the previous run. Errors are kept as text. The
 * previous result stays in `data` (flagged `stale`) until the new one arrives, so a page can
 * keep showing it, dimmed, under its own parameters instead of flashing empty.
 */
export function useAsync<T>(load: ((signal: AbortSignal) => Promise<T>) | null, deps: unknown[]): Async<T> {
  const [state, setState] = useState<State<T>>({ data: undefined, error: undefined, deps: null, pending: !!load });
  useEffect(() => {
    if (!load) {
      setState({ data: undefined, error: undefined, deps, pending: false });
      return;
    }
    const ctl = new AbortController();
    setState((s) => ({ ...s, error: undefined, pending: true }));
    load(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, error: undefined, deps, pending: false });
      },
      (e) => {
        if (ctl.signal.aborted || isAbort(e)) return;
        setState({ data: undefined, error: e instanceof Error ? e.message : String(e), deps, pending: false });
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  const current = sameDeps(state.deps, deps);
  return {
    data: state.data,
    error: current ? state.error : undefined,
    loading: !!load && (state.pending || !current),
    stale: state.data !== undefined && !current,
  };
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
