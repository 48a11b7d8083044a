import { useState, type FormEvent } from 'react';
import { useLocation } from 'wouter';
import { api } from '../api/client';
import { useAction } from '../api/use-resource';
import type { User } from '../api/types';
import { ErrorMessage } from '../ui/feedback';

/** First run: the holder of the one-time link printed by `lectern start` creates the administrator. */
export function Setup({ onDone }: { onDone(user: User, csrf: string): void }) {
  const [location] = useLocation();
  const fromLink = /^\/setup\/([\w-]+)/.exec(location)?.[1] ?? '';
  const [token, setToken] = useState(fromLink);
  const [form, setForm] = useState({ username: 'admin', email: '', password: '', confirm: '' });
  const [mismatch, setMismatch] = useState(false);
  const action = useAction();
  const set = (field: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [field]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (form.password !== form.confirm) return setMismatch(true);
    setMismatch(false);
    const body = { token: token.trim(), username: form.username, password: form.password, ...(form.email ? { email: form.email } : {}) };
    const result = await action.run(() => api<{ user: User; csrf_token: string }>('/__setup__', { method: 'POST', json: body }));
    if (result) {
      history.replaceState(null, '', '#/');
      onDone(result.user, result.csrf_token);
    }
  }

  return (
    <main className="centered auth">
      <h1>
        <span className="brand-mark" aria-hidden="true">
          L
        </span>{' '}
        Welcome to Lectern
      </h1>
      <p>This server has no accounts yet. Create the administrator account to finish setting it up.</p>
      <form onSubmit={submit} className="card stack">
        <ErrorMessage error={action.error} />
        {!fromLink && (
          <div className="field">
            <label>
              Setup token
              <input name="token" required value={token} onChange={(e) => setToken(e.target.value)} aria-describedby="token-help" />
            </label>
            <span id="token-help" className="help">
              The last part of the setup link that <code>lectern start</code> printed.
            </span>
          </div>
        )}
        <label>
          Username
          <input name="username" autoComplete="username" required value={form.username} onChange={set('username')} />
        </label>
        <label>
          Email (optional)
          <input name="email" type="email" autoComplete="email" value={form.email} onChange={set('email')} />
        </label>
        <div className="field">
          <label>
            Password
            <input name="password" type="password" autoComplete="new-password" minLength={8} required value={form.password} onChange={set('password')} aria-describedby="password-help" />
          </label>
          <span id="password-help" className="help">
            At least 8 characters.
          </span>
        </div>
        <label>
          Confirm password
          <input name="confirm" type="password" autoComplete="new-password" required value={form.confirm} onChange={set('confirm')} aria-invalid={mismatch} />
        </label>
        {mismatch && (
          <p className="error" role="alert">
            The passwords do not match.
          </p>
        )}
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Create administrator and sign in'}
        </button>
      </form>
    </main>
  );
}
