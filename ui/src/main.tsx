import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { getAuth, onAuthRequired, setAuth } from './api';
import { Login } from './components/Login';
import { AlertsPage } from './pages/Alerts';
import { LogsPage } from './pages/Logs';
import { MetricsPage } from './pages/Metrics';
import { RedPage } from './pages/Red';
import { ServiceGraphPage } from './pages/ServiceGraph';
import { StatusPage } from './pages/Status';
import { TargetsPage } from './pages/Targets';
import { TracesPage } from './pages/Traces';
import { TraceView } from './pages/TraceView';
import { href, useRoute, type Route } from './router';
import { applyTheme, setTheme, useTheme } from './theme';

performance.mark('nerve-start');
applyTheme();

const NAV: [string, string, string][] = [
  ['metrics', 'Metrics', '/metrics'],
  ['logs', 'Logs', '/logs'],
  ['traces', 'Traces', '/traces'],
  ['service-graph', 'Service graph', '/service-graph'],
  ['red', 'RED', '/red'],
  ['alerts', 'Alerts', '/alerts'],
  ['targets', 'Targets', '/targets'],
  ['status', 'Status', '/status'],
];

/** Links between pages keep the time range. */
function keepRange(route: Route): Record<string, string> {
  const o: Record<string, string> = {};
  const f = route.params.get('from');
  const t = route.params.get('to');
  if (f) o.from = f;
  if (t) o.to = t;
  return o;
}

function Page({ route }: { route: Route }) {
  switch (route.segments[0]) {
    case 'metrics':
      return <MetricsPage route={route} />;
    case 'logs':
      return <LogsPage route={route} />;
    case 'traces':
      return <TracesPage route={route} />;
    case 'trace':
      return <TraceView route={route} />;
    case 'service-graph':
      return <ServiceGraphPage route={route} />;
    case 'red':
      return <RedPage route={route} />;
    case 'alerts':
      return <AlertsPage route={route} />;
    case 'targets':
      return <TargetsPage />;
    case 'status':
      return <StatusPage route={route} />;
    default:
      return (
        <div class="page">
          <h1>Not found</h1>
          <p>
            No page <code>{route.path}</code>. <a href="#/metrics">Go to Metrics</a>.
          </p>
        </div>
      );
  }
}

function App() {
  const route = useRoute();
  const theme = useTheme();
  const [needLogin, setNeedLogin] = useState<string | null>(null);
  const [epoch, setEpoch] = useState(0);
  const [authed, setAuthed] = useState(!!getAuth());

  useEffect(() => {
    onAuthRequired((challenge) => setNeedLogin(challenge));
    performance.mark('nerve-rendered');
    document.documentElement.dataset.rendered = '1';
    return () => onAuthRequired(null);
  }, []);

  const section = route.segments[0] === 'trace' ? 'traces' : route.segments[0];
  const keep = keepRange(route);
  return (
    <div class="app">
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/metrics" aria-label="nerve home">
          <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
            <path d="M2 12h4l3-8 4 16 3-8h6" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round" />
          </svg>
          nerve
        </a>
        <nav aria-label="Main">
          {NAV.map(([key, label, path]) => (
            <a
              key={key}
              href={href(path, keep)}
              class={section === key ? 'active' : ''}
              aria-current={section === key ? 'page' : undefined}
              data-testid={`nav-${key}`}
            >
              {label}
            </a>
          ))}
        </nav>
        <div class="topbar-right">
          {authed && (
            <button
              type="button"
              class="btn small"
              data-testid="logout"
              onClick={() => {
                setAuth(null);
                setAuthed(false);
                setEpoch(epoch + 1);
              }}
            >
              Sign out
            </button>
          )}
          <button
            type="button"
            class="btn small"
            data-testid="theme-toggle"
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          >
            {theme === 'dark' ? '☀ Light' : '☾ Dark'}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page key={`${epoch}`} route={route} />
      </main>
      {needLogin !== null && (
        <Login
          challenge={needLogin}
          onDone={() => {
            setNeedLogin(null);
            setAuthed(!!getAuth());
            setEpoch((e) => e + 1);
          }}
        />
      )}
    </div>
  );
}

render(<App />, document.getElementById('app')!);
