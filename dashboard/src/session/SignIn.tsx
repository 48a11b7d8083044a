import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { useAction } from '../api/use-resource';
import type { User } from '../api/types';
import { ErrorMessage } from '../ui/feedback';

export function SignIn({ onSignedIn }: { onSignedIn(user: User, csrf: string): void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = await action.run(() => api<{ user: User; csrf_token: string }>('/__login__', { method: 'POST', json: { username, password } }));
    if (result) onSignedIn(result.user, result.csrf_token);
  }

  return (
    <main className="centered auth">
      <h1>
        <span className="brand-mark" aria-hidden="true">
          L
        </span>{' '}
        Sign in to Lectern
      </h1>
      <form onSubmit={submit} className="card stack">
        <ErrorMessage error={action.error} />
        <label>
          Username
          {/* biome-ignore lint/a11y/noAutofocus: signing in is all this page is for, and the field is its first */}
          <input name="username" autoComplete="username" required autoFocus value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="hint">No account? Ask an administrator of this server to add you.</p>
    </main>
  );
}
