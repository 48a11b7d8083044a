// The file system a sandboxed job sees, as bubblewrap options: the system directories read-only,
// a fresh /dev, /proc (of its own PID namespace) and /tmp, the job's own paths at their real
// locations, and nothing else of the host (no /home, /root, /var, data directory, other content).
import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/sys'];
/** Mount points made by bwrap itself: present in the sandbox but empty of host content. */
const FRESH_DIRS = ['/', '/dev', '/dev/shm', '/proc', '/tmp'];

export interface FileSystemView {
  readOnly: string[];
  readWrite: string[];
  /** Host files and directories masked even where a bound directory contains them. */
  hidePaths: string[];
}

interface Bind {
  path: string;
  writable: boolean;
}

/** bwrap options (everything before the command) for one job. Throws when a path to bind is missing. */
export function bwrapOptions(view: FileSystemView, cwd: string): string[] {
  const args: string[] = [];
  const bound: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    const info = lstatSync(dir, { throwIfNoEntry: false });
    if (info?.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else if (info?.isDirectory()) {
      args.push('--ro-bind', dir, dir);
      bound.push(dir);
    }
  }
  // /dev/shm writable like /tmp: POSIX semaphores and shared memory (Python's multiprocessing locks,
  // joblib, PyTorch data loaders) live there, and bwrap's fresh /dev leaves it root-owned.
  args.push('--dev', '/dev', '--proc', '/proc', '--perms', '1777', '--tmpfs', '/tmp', '--perms', '1777', '--tmpfs', '/dev/shm');

  const made = new Set(FRESH_DIRS);
  for (const bind of bindsOf(view, bound)) {
    if (!existsSync(bind.path)) throw new Error(`cannot give the job ${bind.path}: it does not exist`);
    // Parents bwrap would create itself get mode 0700, which the content user could not cross.
    for (const dir of ancestors(bind.path)) {
      if (isUnder(dir, bound) || isUnder(realpathOrNull(dir) ?? dir, bound)) break;
      if (made.has(dir)) continue;
      args.push('--perms', '0755', '--dir', dir);
      made.add(dir);
    }
    args.push(bind.writable ? '--bind' : '--ro-bind', bind.path, bind.path);
    bound.push(bind.path);
  }

  for (const hidden of withRealPaths(view.hidePaths)) {
    const info = statSync(hidden, { throwIfNoEntry: false });
    if (!info || !isUnder(hidden, bound)) continue;
    // Masking a parent of something the job was explicitly given would take that away too.
    if (bound.some((b) => isUnder(b, [hidden]))) continue;
    if (info.isDirectory()) args.push('--tmpfs', hidden, '--remount-ro', hidden);
    else args.push('--ro-bind', '/dev/null', hidden);
  }

  args.push('--remount-ro', '/', '--unshare-pid', '--unshare-ipc', '--unshare-cgroup-try', '--die-with-parent', '--new-session', '--clearenv', '--chdir', cwd);
  return args;
}

/** Job paths (and their real locations) plus what the system directories point outside themselves, shallowest first. */
function bindsOf(view: FileSystemView, systemBound: string[]): Bind[] {
  const byPath = new Map<string, Bind>();
  const add = (p: string, writable: boolean) => {
    const prior = byPath.get(p);
    if (!prior || (!prior.writable && writable)) byPath.set(p, { path: p, writable });
  };
  for (const p of withRealPaths(view.readOnly)) add(p, false);
  for (const p of withRealPaths(view.readWrite)) add(p, true);
  // DNS: /etc/resolv.conf is often a symlink into /run (systemd-resolved, NetworkManager).
  const resolv = realpathOrNull('/etc/resolv.conf');
  if (resolv && !isUnder(resolv, systemBound)) add(resolv, false);
  const depth = (p: string) => p.split('/').length;
  return [...byPath.values()].sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path));
}

function withRealPaths(paths: string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const resolved = path.resolve(p);
    out.add(resolved);
    const real = realpathOrNull(resolved);
    if (real) out.add(real);
  }
  return [...out];
}

function realpathOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/** Proper ancestors of an absolute path, outermost first, without '/'. */
function ancestors(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

export function isUnder(p: string, roots: string[]): boolean {
  return roots.some((r) => p === r || p.startsWith(r.endsWith('/') ? r : r + '/'));
}
