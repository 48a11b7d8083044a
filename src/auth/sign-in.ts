// Password sign-in: the throttle on repeated failures, the password check and the audit trail.
// The HTTP side (cookies, the form or JSON answer) is src/serve/login.ts.
import type { AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config/config.js';
import type { Database, User } from '../db/schema.js';
import type { Users } from '../users/users.js';
import type { Kysely } from 'kysely';
import { SignInThrottle } from './sign-in-throttle.js';

export type SignInResult = { ok: true; user: User } | { ok: false; reason: 'throttled'; retryAfterSeconds: number; message: string } | { ok: false; reason: 'refused'; message: string };

/** User-supplied text as it goes into an audit description: quoted, escaped, bounded. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

export class PasswordSignIn {
  private readonly throttle: SignInThrottle;

  constructor(private readonly services: { db: Kysely<Database>; users: Users; audit: AuditLog; config: Config }) {
    const { config } = services;
    this.throttle = new SignInThrottle(services.db, () => ({
      attempts: config.get('Authentication.SignInAttempts'),
      delayMs: config.get('Authentication.SignInDelay'),
      maxDelayMs: config.get('Authentication.SignInMaxDelay'),
    }));
  }

  /** Checks `username` and `password` from `address`; every outcome is audited. */
  async attempt(username: string, password: string, address: string): Promise<SignInResult> {
    const { users, audit } = this.services;
    const wait = await this.throttle.begin(username, address);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      await audit.record(null, 'login_throttled', `Sign-in for ${quoted(username)} from ${address} refused: too many failed attempts`);
      return { ok: false, reason: 'throttled', retryAfterSeconds: seconds, message: `Too many failed sign-in attempts. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.` };
    }
    // A missing user costs a password hash too (verifyPassword), so timing does not tell who exists.
    const user = await users.verifyPassword(username, password);
    if (!user) {
      await audit.record(null, 'login_failed', `Failed sign-in for ${quoted(username)} from ${address}`);
      return { ok: false, reason: 'refused', message: 'Incorrect username or password.' };
    }
    await this.throttle.succeeded(username, address);
    await audit.record(user, 'login', `Signed in from ${address}`);
    return { ok: true, user };
  }
}
