import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { api, setCsrfToken } from '../api/client';
import type { Session, User } from '../api/types';

interface SessionContext {
  user: User;
  signOut(): Promise<void>;
}

const Context = createContext<SessionContext | null>(null);

/** The signed-in user; only used below <SessionGate>, which renders nothing else without one. */
export function useSession(): SessionContext {
  const session = useContext(Context);
  if (!session) throw new Error('useSession outside a signed-in session');
  return session;
}

export type SessionState = { status: 'loading' } | { status: 'error'; message: string } | { status: 'ready'; session: Session };

/** Loads who is signed in (and whether the server still needs its first administrator). */
export function useSessionState() {
  const [state, setState] = useState<SessionState>({ status: 'loading' });
  const refresh = useCallback(async () => {
    try {
      const session = await api<Session>('/__session__');
      setCsrfToken(session.csrf_token);
      setState({ status: 'ready', session });
    } catch (err) {
      setState({ status: 'error', message: (err as Error).message });
    }
  }, []);
  useEffect(() => void refresh(), [refresh]);
  const signedIn = useCallback((user: User, csrf: string) => {
    setCsrfToken(csrf);
    setState({ status: 'ready', session: { user, csrf_token: csrf, setup_required: false } });
  }, []);
  return { state, refresh, signedIn };
}

export function SessionProvider({ user, onSignedOut, children }: { user: User; onSignedOut(): void; children: ReactNode }) {
  const signOut = useCallback(async () => {
    await fetch('/__logout__', { method: 'POST', credentials: 'same-origin', redirect: 'manual' });
    setCsrfToken(null);
    onSignedOut();
  }, [onSignedOut]);
  return <Context.Provider value={{ user, signOut }}>{children}</Context.Provider>;
}
