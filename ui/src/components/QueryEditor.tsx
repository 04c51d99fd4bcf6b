// A query textarea with API-backed autocomplete. Enter or Ctrl/Cmd+Enter runs the query,
// Shift+Enter adds a line, ↑/↓ pick a suggestion, Tab/Enter take it, Esc closes the list,
// Ctrl+Space asks for suggestions.
import { useEffect, useRef, useState } from 'preact/hooks';
import { complete, type Completion, type Language } from '../completion';

let nextId = 0;

export function QueryEditor({
  value,
  onChange,
  onRun,
  language,
  testid,
  placeholder,
  label,
}: {
  value: string;
  onChange: (v: string) => void;
  onRun: (v: string) => void;
  language: Language;
  testid: string;
  placeholder?: string;
  label: string;
}) {
  const ta = useRef<HTMLTextAreaElement>(null);
  const [items, setItems] = useState<Completion[]>([]);
  const [range, setRange] = useState<[number, number]>([0, 0]);
  const [active, setActive] = useState(0);
  const [hint, setHint] = useState('');
  const seq = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  const [id] = useState(() => `qe${nextId++}`);
  const open = items.length > 0;

  useEffect(() => () => window.clearTimeout(timer.current), []);
  useEffect(() => {
    // Grow with the content.
    const el = ta.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(240, el.scrollHeight + 2)}px`;
  }, [value]);

  const close = () => {
    seq.current++;
    setItems([]);
  };

  const suggest = (text: string, pos: number, delay = 90) => {
    window.clearTimeout(timer.current);
    const n = ++seq.current;
    timer.current = window.setTimeout(async () => {
      try {
        const r = await complete(language, text, pos);
        if (n !== seq.current) return;
        setHint('');
        if (!r || !r.items.length) {
          setItems([]);
          return;
        }
        setItems(r.items);
        setRange([r.from, r.to]);
        setActive(0);
      } catch (e) {
        if (n !== seq.current) return;
        setItems([]);
        setHint(`suggestions unavailable: ${(e as Error).message}`);
      }
    }, delay);
  };

  const accept = (c: Completion) => {
    const [from, to] = range;
    const next = value.slice(0, from) + c.insert + value.slice(to);
    const pos = from + c.insert.length;
    onChange(next);
    close();
    requestAnimationFrame(() => {
      const el = ta.current;
      if (!el) return;
      el.focus();
      el.setSelectionRange(pos, pos);
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      close();
      onRun(value);
      return;
    }
    if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      const el = ta.current!;
      suggest(el.value, el.selectionStart, 0);
      return;
    }
    if (open) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        setActive((active + 1) % items.length);
        return;
      }
      if (e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((active - 1 + items.length) % items.length);
        return;
      }
      if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey)) {
        e.preventDefault();
        accept(items[active]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        close();
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      onRun(value);
    }
  };

  return (
    <div class="editor" role="combobox" aria-expanded={open} aria-haspopup="listbox" aria-owns={`${id}-list`}>
      <textarea
        ref={ta}
        class="query"
        rows={1}
        spellcheck={false}
        autocomplete="off"
        autocapitalize="off"
        placeholder={placeholder}
        aria-label={label}
        aria-autocomplete="list"
        aria-controls={`${id}-list`}
        aria-activedescendant={open ? `${id}-opt-${active}` : undefined}
        data-testid={testid}
        value={value}
        onInput={(e) => {
          const el = e.target as HTMLTextAreaElement;
          onChange(el.value);
          suggest(el.value, el.selectionStart);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => window.setTimeout(close, 150)}
      />
      {open && (
        <ul class="suggestions" role="listbox" id={`${id}-list`} data-testid={`${testid}-suggestions`}>
          {items.map((c, i) => (
            <li
              key={c.label + (c.detail ?? '')}
              id={`${id}-opt-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : ''}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(c);
              }}
            >
              <span>{c.label}</span>
              {c.detail && <span class="detail">{c.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      {hint && <div class="hint muted">{hint}</div>}
    </div>
  );
}
