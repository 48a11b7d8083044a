import { useEffect, useRef, type ReactNode } from 'react';
import { Link, useLocation } from 'wouter';
import { useSession } from '../session/session';

function NavLink({ href, children, match }: { href: string; children: ReactNode; match: (location: string) => boolean }) {
  const [location] = useLocation();
  const current = match(location);
  return (
    <Link href={href} className={current ? 'nav-link current' : 'nav-link'} aria-current={current ? 'page' : undefined}>
      {children}
    </Link>
  );
}

/**
 * A new page (not a new panel of the same item) starts at the top, with focus at the start of the
 * main region, as a page load would: screen readers announce it and Tab continues from there.
 */
function usePageFocus() {
  const [location] = useLocation();
  const page = location.startsWith('/apps/') ? location.split('/').slice(0, 3).join('/') : location;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    window.scrollTo(0, 0);
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [page]);
}

/** Header with navigation and the signed-in user; every signed-in view renders inside it. */
export function Shell({ children }: { children: ReactNode }) {
  const { user, signOut } = useSession();
  usePageFocus();
  return (
    <>
      {/* biome-ignore lint/a11y/useValidAnchor: a skip link is a link by convention; the hash router would read #main as a route, so the click moves focus itself */}
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          <span className="brand-mark" aria-hidden="true">
            L
          </span>{' '}
          Lectern
        </Link>
        <nav aria-label="Main">
          <NavLink href="/" match={(l) => l === '/' || l.startsWith('/apps')}>
            Content
          </NavLink>
          <NavLink href="/keys" match={(l) => l.startsWith('/keys')}>
            API keys
          </NavLink>
          {user.user_role === 'administrator' && (
            <NavLink href="/admin/users" match={(l) => l.startsWith('/admin')}>
              Admin
            </NavLink>
          )}
        </nav>
        <div className="user-menu">
          <span className="user-name" title={`${user.username} (${user.user_role})`}>
            {user.username}
          </span>
          <button type="button" className="secondary small" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <div id="main" tabIndex={-1} className="main">
        {children}
      </div>
    </>
  );
}
