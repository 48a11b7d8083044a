// Connect's programmatic provisioning: on a server with no users, whoever holds the bootstrap
// secret key signs a short-lived JWT (as `rsconnect bootstrap --jwt-keypath` does) and trades it
// for the API key of a new first administrator, so provisioning scripts need no browser.
import { readFileSync } from 'node:fs';
import { errors as joseErrors, jwtVerify } from 'jose';
import type { AuditLog } from '../audit/audit-log.js';
import { ErrorCode, forbidden, LecternError, notFound } from '../errors.js';
import { StartupError } from '../startup-error.js';
import type { Users } from './users.js';

/** What rsconnect-python's TokenGenerator.bootstrap() puts in the token besides exp and iat. */
export const BOOTSTRAP_AUDIENCE = 'rsconnect';
export const BOOTSTRAP_SCOPE = 'bootstrap';
/** rsconnect-python signs tokens valid for 15 minutes; a token meant to live longer is refused. */
const MAX_LIFETIME_S = 15 * 60;
/** Clocks of the provisioning host and the server may differ a little. */
const CLOCK_TOLERANCE_S = 60;
/** The account created: an anchor for the first API key, with no password (no sign-in). */
export const BOOTSTRAP_USERNAME = 'bootstrap-admin';
const MIN_KEY_BYTES = 32;

export interface BootstrapSettings {
  enabled: boolean;
  /** Base64; wins over the file. */
  secretKey: string;
  secretKeyFile: string;
}

const refused = (why: string) => new LecternError('unauthenticated', ErrorCode.InvalidLogin, `Bootstrap JWT refused: ${why}`);

/** The configured key, read and checked once at start; null when bootstrapping is off. */
export function bootstrapKey(settings: BootstrapSettings): Uint8Array | null {
  if (!settings.enabled) return null;
  let text = settings.secretKey;
  let source = '[Bootstrap] SecretKey';
  if (!text && settings.secretKeyFile) {
    source = `[Bootstrap] SecretKeyFile (${settings.secretKeyFile})`;
    try {
      text = readFileSync(settings.secretKeyFile, 'utf8');
    } catch (err) {
      throw new StartupError(`${source} cannot be read: ${(err as Error).message}`, 'make the file readable by the server, or set [Bootstrap] Enabled = false');
    }
  }
  if (!text)
    throw new StartupError('[Bootstrap] Enabled is true but no secret key is set', 'set [Bootstrap] SecretKeyFile (or SecretKey) to a base64 key, e.g. made with `head -c 32 /dev/random | base64`');
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new StartupError(`${source} is not base64`, 'write the key as base64, e.g. `head -c 32 /dev/random | base64`');
  const key = Buffer.from(compact, 'base64');
  if (key.length < MIN_KEY_BYTES) throw new StartupError(`${source} is ${key.length} bytes long; HS256 needs at least ${MIN_KEY_BYTES}`, 'make a longer key, e.g. `head -c 32 /dev/random | base64`');
  return new Uint8Array(key);
}

export class Bootstrap {
  constructor(
    private readonly key: Uint8Array | null,
    private readonly users: Users,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Verifies `Authorization: Connect-Bootstrap <jwt>` (HS256 with the bootstrap key, audience
   * "rsconnect", scope "bootstrap", not expired and meant to live at most 15 minutes) and, while
   * the server has no users, creates the first administrator and an API key for it.
   */
  async provision(authorization: string | undefined): Promise<{ api_key: string }> {
    if (!this.key) throw notFound('The bootstrap endpoint is disabled: set [Bootstrap] Enabled = true and a [Bootstrap] SecretKeyFile to use it.');
    const match = /^\s*Connect-Bootstrap\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw refused('send it as "Authorization: Connect-Bootstrap <jwt>".');
    const claims = await this.verify(match[1]!);
    if (claims.scope !== BOOTSTRAP_SCOPE) throw refused(`its scope must be "${BOOTSTRAP_SCOPE}".`);
    if ((await this.users.count()) > 0) throw this.alreadyProvisioned();
    let user;
    try {
      user = await this.users.create({ username: BOOTSTRAP_USERNAME, user_role: 'administrator', password: null });
    } catch (err) {
      // Another request (or the setup page) made the first account meanwhile.
      if ((await this.users.count()) > 0) throw this.alreadyProvisioned();
      throw err;
    }
    const { key } = await this.users.createApiKey(user.id, 'bootstrap');
    await this.audit.record(user, 'add_user', `Created the first administrator "${user.username}" through the bootstrap endpoint`);
    return { api_key: key };
  }

  private alreadyProvisioned() {
    return forbidden("Bootstrap is only possible on a server with no users, and this one has users: sign in, or use an administrator's API key.");
  }

  private async verify(token: string) {
    try {
      const { payload } = await jwtVerify(token, this.key!, {
        algorithms: ['HS256'],
        audience: BOOTSTRAP_AUDIENCE,
        requiredClaims: ['exp', 'iat'],
        clockTolerance: CLOCK_TOLERANCE_S,
        maxTokenAge: MAX_LIFETIME_S,
      });
      if (payload.exp! - payload.iat! > MAX_LIFETIME_S) throw refused(`it is valid for ${payload.exp! - payload.iat!} s; at most ${MAX_LIFETIME_S} s is accepted.`);
      return payload;
    } catch (err) {
      if (err instanceof LecternError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw refused('it has expired.');
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw refused('its signature does not match the bootstrap secret key.');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw refused(`${err.message} (claim ${err.claim}).`);
      if (err instanceof joseErrors.JOSEError) throw refused(`${err.message}.`);
      throw err;
    }
  }
}
