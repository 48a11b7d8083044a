import { lazy, Suspense } from 'react';
import { Link } from 'wouter';
import { useSession } from '../session/session';
import { Loading } from '../ui/feedback';
import { AuditLog } from './AuditLog';
import { Groups } from './Groups';
import { Processes } from './Processes';
import { ServerSettings } from './ServerSettings';
import { Users } from './Users';

// Its own chunk: most administrators' visits never open it.
const ExecutionEnvironments = lazy(() => import('./ExecutionEnvironments').then((m) => ({ default: m.ExecutionEnvironments })));

const SECTIONS = [
  { id: 'users', label: 'Users', view: Users },
  { id: 'groups', label: 'Groups', view: Groups },
  { id: 'processes', label: 'Processes', view: Processes },
  { id: 'environments', label: 'Execution environments', view: ExecutionEnvironments },
  { id: 'audit', label: 'Audit log', view: AuditLog },
  { id: 'settings', label: 'Server settings', view: ServerSettings },
];

export function Admin({ section }: { section?: string }) {
  const { user } = useSession();
  if (user.user_role !== 'administrator') {
    return (
      <main className="page">
        <h1>Admin</h1>
        <p className="error" role="alert">
          Only administrators can open the admin pages.
        </p>
      </main>
    );
  }
  const active = SECTIONS.find((s) => s.id === section) ?? SECTIONS[0]!;
  const View = active.view;
  return (
    <main className="page">
      <h1>Admin</h1>
      <nav className="tabs" aria-label="Admin sections">
        {SECTIONS.map((s) => (
          <Link key={s.id} href={`/admin/${s.id}`} className={s.id === active.id ? 'tab current' : 'tab'} aria-current={s.id === active.id ? 'page' : undefined}>
            {s.label}
          </Link>
        ))}
      </nav>
      <Suspense fallback={<Loading />}>
        <View />
      </Suspense>
    </main>
  );
}
