// Which Unix user content processes run as. A root server never runs content as root: it uses
// [Applications] RunAs (created as a system user with no login shell when missing). A server that
// is not root cannot switch users, so content runs as the server's own user.
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Identity {
  user: string;
  uid: number;
  gid: number;
  /** Primary and supplementary groups, for permission checks and setpriv --groups. */
  groups: number[];
  /** True when the server must switch to this user (it is root and the user is not). */
  switchUser: boolean;
}

export function serverIsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The identity content runs as; creates the RunAs user when the server is root and `create` is set. */
export async function resolveRunAs(runAs: string, options: { create: boolean }): Promise<Identity> {
  if (!serverIsRoot()) {
    const me = userInfo();
    return { user: me.username, uid: me.uid, gid: me.gid, groups: process.getgroups?.() ?? [me.gid], switchUser: false };
  }
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(runAs)) throw new Error(`[Applications] RunAs = ${runAs} is not a valid user name`);
  let found = await lookup(runAs);
  if (!found && options.create) {
    await createSystemUser(runAs);
    found = await lookup(runAs);
  }
  if (!found) throw new Error(`[Applications] RunAs: user ${runAs} does not exist and could not be created`);
  return { ...found, switchUser: found.uid !== 0 };
}

async function lookup(user: string): Promise<Omit<Identity, 'switchUser'> | null> {
  let line: string;
  try {
    line = (await run('getent', ['passwd', user])).stdout.trim();
  } catch {
    return null; // getent exits 2 when the user is unknown
  }
  const [, , uid, gid] = line.split(':');
  const groups = (await run('id', ['-G', user])).stdout.trim().split(/\s+/).map(Number);
  return { user, uid: Number(uid), gid: Number(gid), groups: groups.filter((g) => Number.isInteger(g)) };
}

async function createSystemUser(user: string): Promise<void> {
  // Several servers may start at once on one host: losing the race ("already exists") is fine.
  const attempts: [string, string[]][] = [
    ['useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', 'Lectern content', user]],
    ['adduser', ['--system', '--group', '--no-create-home', '--home', '/nonexistent', '--shell', '/usr/sbin/nologin', user]],
  ];
  const errors: string[] = [];
  for (const [cmd, args] of attempts) {
    try {
      await run(cmd, args);
      return;
    } catch (err) {
      if (await lookup(user)) return;
      errors.push(`${cmd}: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    }
  }
  throw new Error(`cannot create the [Applications] RunAs user ${user} (${errors.join('; ')}). Create it yourself, e.g. useradd --system --user-group --shell /usr/sbin/nologin ${user}`);
}
