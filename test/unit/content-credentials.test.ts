import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ContentCredentials, USER_SESSION_TOKEN_TTL_MS } from '../../src/auth/content-credentials.js';
import { SecretBox } from '../../src/secrets/secret-box.js';

const A = '0b6d2c4e-8f1a-4c3b-9d2e-7a6f5e4d3c2b';
const B = '1c7e3d5f-9a2b-4d4c-8e3f-8b7a6f5e4d3c';

describe('content credentials', () => {
  const server = new ContentCredentials(new SecretBox(randomBytes(32)));

  it('signs the identity header so that only the content it was sent to verifies it', () => {
    const identity = '{"user":"ann","groups":[]}';
    const now = Date.UTC(2026, 11, 3);
    const signature = server.signCredentials(A, identity, now);
    const [t, v1] = signature.split(',').map((part) => part.split('=', 2)[1]!);
    assert.equal(t, String(now / 1000));
    const verify = (key: string) => createHmac('sha256', Buffer.from(key, 'base64url')).update(`${t}.${identity}`).digest('base64url') === v1;
    assert.equal(verify(server.contentKey(A)), true);
    assert.equal(verify(server.contentKey(A.toUpperCase())), true);
    assert.equal(verify(server.contentKey(B)), false);
    // Another server (another key) signs differently.
    assert.notEqual(new ContentCredentials(new SecretBox(randomBytes(32))).contentKey(A), server.contentKey(A));
  });

  it('issues user-session tokens that name the visitor and the content, and expire', () => {
    const now = Date.now();
    const token = server.userSessionToken('user-guid', A, now);
    assert.deepEqual(server.verifyUserSessionToken(token, now), { userGuid: 'user-guid', contentGuid: A });
    assert.equal(server.verifyUserSessionToken(token, now + USER_SESSION_TOKEN_TTL_MS + 1), undefined);
    const [payload, mac] = token.split('.') as [string, string];
    const altered = Buffer.from(JSON.stringify({ u: 'admin-guid', c: A, exp: now + 60_000 })).toString('base64url');
    for (const bad of [`${altered}.${mac}`, `${payload}.${mac.slice(0, -1)}`, `${payload}.${mac}.x`, payload, '']) {
      assert.equal(server.verifyUserSessionToken(bad, now), undefined, bad);
    }
  });
});
