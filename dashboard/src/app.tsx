import { lazy, Suspense, useEffect } from 'react';
import { Route, Router, Switch, useLocation } from 'wouter';
import { useHashLocation } from 'wouter/use-hash-location';
import { ContentList } from './content/ContentList';
import { SessionProvider, useSessionState } from './session/session';
import { Setup } from './session/Setup';
import { SignIn } from './session/SignIn';
import { Shell } from './shell/Shell';
import { Loading } from './ui/feedback';

// Views past the content list load on demand, keeping the first download small.
const ContentItemView = lazy(() => import('./content/ContentItemView').then((m) => ({ default: m.ContentItemView })));
const ApiKeys = lazy(() => import('./keys/ApiKeys').then((m) => ({ default: m.ApiKeys })));
const Admin = lazy(() => import('./admin/Admin').then((m) => ({ default: m.Admin })));

export function App() {
  return (
    <Router hook={useHashLocation}>
      <Gate />
    </Router>
  );
}

/** Signed out → sign-in; a server without accounts → first-run setup; else the dashboard. */
function Gate() {
  const { state, refresh, signedIn } = useSessionState();
  const [location, navigate] = useLocation();
  const onSetupPage = location.startsWith('/setup');
  const ready = state.status === 'ready' ? state.session : null;

  useEffect(() => {
    // A used or stale setup link lands on the dashboard once an account exists.
    if (ready?.user && onSetupPage) navigate('/', { replace: true });
  }, [ready, onSetupPage, navigate]);

  if (state.status === 'loading') return <Loading label="Loading Lectern…" />;
  if (state.status === 'error') {
    return (
      <main className="centered">
        <h1>Lectern is not answering</h1>
        <p className="error" role="alert">
          {state.message}
        </p>
        <button type="button" onClick={() => void refresh()}>
          Try again
        </button>
      </main>
    );
  }
  const session = state.session;
  if (!session.user && session.setup_required) return <Setup onDone={signedIn} />;
  if (!session.user) return <SignIn onSignedIn={signedIn} />;
  return (
    <SessionProvider user={session.user} onSignedOut={() => void refresh()}>
      <Shell>
        <Suspense fallback={<Loading />}>
          <Switch>
            <Route path="/" component={ContentList} />
            <Route path="/apps/:guid/draft/:bundle">{(p) => <ContentItemView guid={p.guid} panel="bundles" draft={p.bundle} />}</Route>
            <Route path="/apps/:guid/:panel?">{(p) => <ContentItemView guid={p.guid} panel={p.panel} />}</Route>
            <Route path="/keys" component={ApiKeys} />
            <Route path="/admin/:section?">{(p) => <Admin section={p.section} />}</Route>
            <Route>
              <main className="page">
                <h1>Page not found</h1>
                <p>
                  There is nothing at <code>#{location}</code>. <a href="#/">Go to the content list</a>.
                </p>
              </main>
            </Route>
          </Switch>
        </Suspense>
      </Shell>
    </SessionProvider>
  );
}
