import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../secrets/secret-box.js';

/** How long a visitor's user-session token may be exchanged for a visitor key. */
export const USER_SESSION_TOKEN_TTL_MS = 60 * 60_000;

/**
 * What lets content trust who is visiting, and act as them, without ever seeing their own
 * credentials (docs/runtime.md, "Who is visiting"):
 * - the identity header (RStudio-Connect-Credentials, JSON as in Connect) is signed with a key of
 *   that content item alone, which it receives as LECTERN_CREDENTIALS_KEY: another process cannot
 *   forge it, and a header meant for one item does not verify at another;
 * - a signed-in visitor's requests carry a Posit-Connect-User-Session-Token, bound to the visitor
 *   and the content, that the content may exchange (POST /__api__/v1/oauth/integrations/credentials)
 *   for a short-lived API key of that visitor.
 * Both are derived from the server key, so every replica agrees.
 */
export class ContentCredentials {
  private readonly secret: Buffer;
  private readonly contentKeys = new Map<string, Buffer>();
  private readonly tokenKey: Buffer;

  /** Derived from the server key ([Server] SecretKey), which every replica shares. */
  constructor(secrets: SecretBox) {
    this.secret = secrets.derive('content-credentials');
    this.tokenKey = this.derive('user-session-token');
  }

  /** The key content `guid` verifies its identity header with (LECTERN_CREDENTIALS_KEY). */
  contentKey(guid: string): string {
    return this.contentKeyBytes(guid).toString('base64url');
  }

  /** Derived once per content item: every proxied request of a signed-in visitor is signed. */
  private contentKeyBytes(guid: string): Buffer {
    const id = guid.toLowerCase();
    let key = this.contentKeys.get(id);
    if (!key) {
      key = this.derive(`rstudio-connect-credentials\0${id}`);
      if (this.contentKeys.size >= 10_000) this.contentKeys.clear();
      this.contentKeys.set(id, key);
    }
    return key;
  }

  /**
   * The RStudio-Connect-Credentials-Signature of `credentials` (the identity header's exact value)
   * for content `guid`: "t=<unix seconds>,v1=<base64url HMAC-SHA256(key, t + '.' + credentials)>".
   * The time lets content refuse an old header replayed to it.
   */
  signCredentials(guid: string, credentials: string, now = Date.now()): string {
    const t = Math.floor(now / 1000);
    const mac = createHmac('sha256', this.contentKeyBytes(guid)).update(`${t}.${credentials}`).digest('base64url');
    return `t=${t},v1=${mac}`;
  }

  /** A token naming `userGuid` visiting content `contentGuid`, valid for USER_SESSION_TOKEN_TTL_MS. */
  userSessionToken(userGuid: string, contentGuid: string, now = Date.now()): string {
    const payload = Buffer.from(JSON.stringify({ u: userGuid, c: contentGuid.toLowerCase(), exp: now + USER_SESSION_TOKEN_TTL_MS })).toString('base64url');
    return `${payload}.${this.tokenMac(payload)}`;
  }

  /** The visitor and content a user-session token names, if it is genuine and unexpired. */
  verifyUserSessionToken(token: string, now = Date.now()): { userGuid: string; contentGuid: string } | undefined {
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined) return undefined;
    const expected = Buffer.from(this.tokenMac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let claims: { u?: unknown; c?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof claims.u !== 'string' || typeof claims.c !== 'string' || typeof claims.exp !== 'number' || claims.exp < now) return undefined;
    return { userGuid: claims.u, contentGuid: claims.c };
  }

  private tokenMac(payload: string): string {
    return createHmac('sha256', this.tokenKey).update(payload).digest('base64url');
  }

  private derive(purpose: string): Buffer {
    return createHmac('sha256', this.secret).update(purpose).digest();
  }
}
