import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** AES-256-GCM for values stored at rest (content environment variables). */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('[Server] SecretKey must be 32 bytes, base64-encoded');
  }

  /** The configured key, else one generated once into the data directory (mode 0600). */
  static fromConfig(configured: string, keyFile: string): SecretBox {
    if (configured) return new SecretBox(Buffer.from(configured, 'base64'));
    try {
      return new SecretBox(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    mkdirSync(path.dirname(keyFile), { recursive: true });
    try {
      writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another replica created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return new SecretBox(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64'));
  }

  /** A key for one `purpose` (domain-separated HMAC of the server key), for signing rather than sealing. */
  derive(purpose: string): Buffer {
    return createHmac('sha256', this.key).update(`lectern:${purpose}`).digest();
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string): string {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
