import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Labels } from '../api';
import { useEscape } from '../hooks';
import { describeRange, parseTime, resolveRange, toLocalInput, type TimeRange } from '../time';

export function ErrorBox({ error, title }: { error?: string; title?: string }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid="error">
      <strong>{title ?? 'Error'}:</strong> {error}
    </div>
  );
}

export function Warnings({ warnings }: { warnings?: string[] }) {
  if (!warnings || !warnings.length) return null;
  return (
    <div class="warning" role="status">
      {warnings.map((w) => (
        <div key={w}>⚠ {w}</div>
      ))}
    </div>
  );
}

export function Loading({ on, label = 'Loading…' }: { on: boolean; label?: string }) {
  return on ? (
    <span class="loading" role="status" aria-live="polite">
      {label}
    </span>
  ) : null;
}

export function LabelChips({ labels, skip = [] }: { labels: Labels; skip?: string[] }) {
  const keys = Object.keys(labels)
    .filter((k) => !skip.includes(k))
    .sort();
  return (
    <span class="chips">
      {keys.map((k) => (
        <span class="chip" key={k}>
          <span class="chip-k">{k}</span>=<span class="chip-v">{labels[k]}</span>
        </span>
      ))}
    </span>
  );
}

export function KV({ rows, testid }: { rows: [string, ComponentChildren][]; testid?: string }) {
  if (!rows.length) return <p class="muted">None.</p>;
  return (
    <table class="kv" data-testid={testid}>
      <tbody>
        {rows.map(([k, v], i) => (
          <tr key={k + i}>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const PRESETS = ['5m', '15m', '1h', '6h', '24h', '7d'];

export function TimeRangePicker({
  range,
  onChange,
  onRefresh,
}: {
  range: TimeRange;
  onChange: (r: TimeRange) => void;
  onRefresh?: () => void;
}) {
  const [open, setOpen] = useState(false);
  const now = Date.now();
  const r = resolveRange(range, now);
  const [from, setFrom] = useState(toLocalInput(r.start));
  const [to, setTo] = useState(toLocalInput(r.end));
  const [err, setErr] = useState('');
  useEscape(open ? () => setOpen(false) : null);

  const toggle = () => {
    if (!open) {
      const rr = resolveRange(range);
      setFrom(toLocalInput(rr.start));
      setTo(toLocalInput(rr.end));
      setErr('');
    }
    setOpen(!open);
  };
  const apply = (e: Event) => {
    e.preventDefault();
    const a = parseTime(from, Date.now());
    const b = parseTime(to, Date.now());
    if (!isFinite(a) || !isFinite(b) || a >= b) {
      setErr('"From" must be a valid time before "To".');
      return;
    }
    setOpen(false);
    onChange({ from: String(Math.round(a)), to: String(Math.round(b)) });
  };

  return (
    <div class="timepicker">
      <button type="button" class="btn" aria-expanded={open} aria-haspopup="dialog" onClick={toggle} data-testid="time-range">
        {describeRange(range)} ▾
      </button>
      {onRefresh && (
        <button type="button" class="btn icon" onClick={onRefresh} title="Run again (relative ranges move to now)" aria-label="Refresh" data-testid="refresh">
          ↻
        </button>
      )}
      {open && (
        <div class="popover" role="dialog" aria-label="Time range">
          <div class="presets">
            {PRESETS.map((p) => (
              <button
                type="button"
                key={p}
                class={'btn small' + (range.from === `now-${p}` && range.to === 'now' ? ' active' : '')}
                data-testid={`range-${p}`}
                onClick={() => {
                  setOpen(false);
                  onChange({ from: `now-${p}`, to: 'now' });
                }}
              >
                Last {p}
              </button>
            ))}
          </div>
          <form class="absolute" onSubmit={apply}>
            <label>
              From <input type="datetime-local" step="1" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} data-testid="range-from" />
            </label>
            <label>
              To <input type="datetime-local" step="1" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} data-testid="range-to" />
            </label>
            {err && <div class="error">{err}</div>}
            <button type="submit" class="btn primary" data-testid="range-apply">
              Apply absolute range
            </button>
          </form>
        </div>
      )}
    </div>
  );
}

export function Tabs<T extends string>({
  value,
  options,
  onChange,
  testid,
}: {
  value: T;
  options: [T, string][];
  onChange: (v: T) => void;
  testid: string;
}) {
  return (
    <div class="tabs" role="tablist">
      {options.map(([v, label]) => (
        <button
          type="button"
          role="tab"
          key={v}
          aria-selected={v === value}
          class={'tab' + (v === value ? ' active' : '')}
          data-testid={`${testid}-${v}`}
          onClick={() => onChange(v)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}
