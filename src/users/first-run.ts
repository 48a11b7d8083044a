import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AuditLog } from '../audit/audit-log.js';
import type { User } from '../db/schema.js';
import { ErrorCode, forbidden, invalidParameter, LecternError } from '../errors.js';
import type { DataDir } from '../storage/data-dir.js';
import { randomToken, sha256Hex } from '../util/ids.js';
import type { Users } from './users.js';

export interface AdministratorInput {
  username?: unknown;
  password?: unknown;
  email?: unknown;
  first_name?: unknown;
  last_name?: unknown;
}

/**
 * First run on a server with no accounts: `lectern start` issues a one-time setup token (printed
 * inside a URL, never stored in clear), and whoever holds it creates the first administrator.
 * A public server is therefore never claimable by the first passer-by. The token's hash lives in
 * the data directory so every replica on shared storage accepts it; each start issues a new one.
 */
export class FirstRun {
  constructor(
    private readonly dataDir: DataDir,
    private readonly users: Users,
    private readonly audit: AuditLog,
  ) {}

  async required(): Promise<boolean> {
    return (await this.users.count()) === 0;
  }

  /** A new token (replacing any earlier one), or null when accounts already exist. */
  async issue(): Promise<string | null> {
    if (!(await this.required())) {
      await rm(this.dataDir.setupTokenFile(), { force: true });
      return null;
    }
    const token = randomToken(24);
    await writeFile(this.dataDir.setupTokenFile(), sha256Hex(token) + '\n', { mode: 0o600 });
    return token;
  }

  /** Whether another request holds the token right now (it renamed the file to claim it). */
  private async beingUsed(): Promise<boolean> {
    const prefix = `${path.basename(this.dataDir.setupTokenFile())}.claimed-`;
    return (await readdir(this.dataDir.root).catch(() => [] as string[])).some((f) => f.startsWith(prefix));
  }

  async createAdministrator(token: unknown, input: AdministratorInput): Promise<User> {
    if (!(await this.required())) throw new LecternError('conflict', ErrorCode.BadRequest, 'Lectern is already set up: sign in instead.');
    if (typeof token !== 'string' || token === '') throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The setup token is required: open the setup link printed by "lectern start".');
    const file = this.dataDir.setupTokenFile();
    const stored = await readFile(file, 'utf8').then(
      (s) => s.trim(),
      () => null,
    );
    if (stored === null && ((await this.beingUsed()) || !(await this.required()))) throw new LecternError('conflict', ErrorCode.BadRequest, 'The setup link was just used: sign in instead.');
    if (stored === null) throw forbidden('No setup link is active: restart "lectern start" to print a new one, or add an administrator with "lectern user add".');
    if (!timingSafeEqual(Buffer.from(sha256Hex(token)), Buffer.from(stored.padEnd(64).slice(0, 64)))) {
      throw forbidden('This setup link is not valid: use the latest one printed by "lectern start".');
    }
    for (const field of ['username', 'password'] as const) {
      if (typeof input[field] !== 'string' || input[field] === '') throw new LecternError('invalid', ErrorCode.ParameterMissing, `The field "${field}" is required.`);
    }
    for (const field of ['email', 'first_name', 'last_name'] as const) {
      if (input[field] !== undefined && typeof input[field] !== 'string') throw invalidParameter(`The field "${field}" must be a string.`);
    }
    // Renaming is atomic: of two simultaneous requests with the token, exactly one claims it.
    const claimed = `${file}.claimed-${randomBytes(6).toString('hex')}`;
    try {
      await rename(file, claimed);
    } catch {
      throw new LecternError('conflict', ErrorCode.BadRequest, 'The setup link was just used: sign in instead.');
    }
    let user: User;
    try {
      user = await this.users.create({
        username: input.username as string,
        password: input.password as string,
        user_role: 'administrator',
        email: input.email as string | undefined,
        first_name: input.first_name as string | undefined,
        last_name: input.last_name as string | undefined,
      });
    } catch (err) {
      // Invalid input leaves the link usable for a corrected attempt.
      await rename(claimed, file).catch(() => undefined);
      throw err;
    }
    await rm(claimed, { force: true });
    await this.audit.record(user, 'add_user', `Created the first administrator "${user.username}" through the setup link`);
    return user;
  }
}
