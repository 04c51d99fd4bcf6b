// The login form shown when an API answers 401: basic auth or a bearer token, kept in
// sessionStorage and sent as the Authorization header of every request.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, basicAuth, getAuth, getJSON, setAuth } from '../api';

export function Login({ challenge, onDone }: { challenge: string; onDone: () => void }) {
  const bearer = /^bearer/i.test(challenge);
  const [mode, setMode] = useState<'basic' | 'token'>(bearer ? 'token' : 'basic');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), [mode]);

  const submit = async (e: Event) => {
    e.preventDefault();
    const header = mode === 'basic' ? basicAuth(user, password) : `Bearer ${token.trim()}`;
    setBusy(true);
    setError('');
    const old = getAuth();
    setAuth(header);
    try {
      await getJSON('/api/v1/status/buildinfo');
      onDone();
    } catch (err) {
      setAuth(old);
      // The API's own wording ("missing or invalid credentials") says which side failed.
      const status = err instanceof ApiError ? err.status : 0;
      const msg = (err as Error).message.replace(/^authentication required \((.*)\)$/, '$1');
      setError(status === 401 ? `nerve refused these credentials: ${msg}` : status === 403 ? `these credentials may not read: ${msg}` : msg);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="modal-backdrop">
      <div role="dialog" aria-modal="true" aria-labelledby="login-title">
      <form class="modal" onSubmit={submit} data-testid="login">
        <h2 id="login-title">Sign in to nerve</h2>
        <p class="muted">
          {/* The UI's requests ask nerve to leave out its challenge (see api.ts): usually there is none to show. */}
          {challenge ? `nerve asks for credentials (${challenge}).` : 'nerve needs credentials to answer.'} They are kept for this browser tab only.
        </p>
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === 'basic'} class={'tab' + (mode === 'basic' ? ' active' : '')} onClick={() => setMode('basic')} data-testid="login-basic">
            Username &amp; password
          </button>
          <button type="button" role="tab" aria-selected={mode === 'token'} class={'tab' + (mode === 'token' ? ' active' : '')} onClick={() => setMode('token')} data-testid="login-token">
            Bearer token
          </button>
        </div>
        {mode === 'basic' ? (
          <>
            <label>
              Username
              <input ref={first} autocomplete="username" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} data-testid="login-user" />
            </label>
            <label>
              Password
              <input type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} data-testid="login-password" />
            </label>
          </>
        ) : (
          <label>
            Token
            <input ref={first} type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} data-testid="login-token-input" />
          </label>
        )}
        {error && (
          <div class="error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" class="btn primary" disabled={busy} data-testid="login-submit">
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
      </div>
    </div>
  );
}
