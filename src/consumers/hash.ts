import { Buffer } from 'node:buffer';
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Credential hashing shared by the consumer directory, the auth policies and the
 * `gantry hash-key` CLI helper.
 *
 * API keys are high-entropy random strings, so one SHA-256 is enough to keep them out of
 * config files (a slow KDF would only slow every request down). Passwords are chosen by
 * people and are hashed with scrypt (RFC 7914), salted, with the cost parameters in the
 * stored string so they can be raised later.
 */

/** `sha256:<hex>` of an API key. @example hashApiKey('k') // 'sha256:…' */
export function hashApiKey(key: string): string {
  return `sha256:${sha256Hex(key)}`;
}

/** Lower-case hex SHA-256 of a UTF-8 string. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Random API key: 32 bytes, base64url (256 bits of entropy). */
export function generateApiKey(): string {
  return randomBytes(32).toString('base64url');
}

/** scrypt cost parameters. Defaults follow Node's (N=16384, r=8, p=1: ~50 ms, 16 MiB). */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };

/** A parsed `scrypt:N:r:p:salt:hash` string. */
export interface ScryptHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

/**
 * Hashes a password: `scrypt:N:r:p:<salt b64url>:<hash b64url>`.
 *
 * @example hashPassword('s3cret') // 'scrypt:16384:8:1:…:…'
 */
export function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize('NFC'), salt, 32, { ...params, maxmem: maxmemFor(params) });
  return `scrypt:${params.N}:${params.r}:${params.p}:${salt.toString('base64url')}:${hash.toString('base64url')}`;
}

/** Parses a stored scrypt hash; returns a reason string when it is unusable. */
export function parseScryptHash(stored: string): ScryptHash | string {
  const parts = stored.split(':');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'must look like scrypt:N:r:p:salt:hash';
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  // Bounds keep a config typo from turning each login into a memory or CPU bomb.
  if (!Number.isInteger(N) || N < 1024 || N > 1 << 20 || (N & (N - 1)) !== 0) return 'scrypt N must be a power of two between 1024 and 1048576';
  if (!Number.isInteger(r) || r < 1 || r > 32) return 'scrypt r must be between 1 and 32';
  if (!Number.isInteger(p) || p < 1 || p > 16) return 'scrypt p must be between 1 and 16';
  const salt = Buffer.from(parts[4]!, 'base64url');
  const hash = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8) return 'scrypt salt must be at least 8 bytes';
  if (hash.length < 16 || hash.length > 64) return 'scrypt hash must be 16 to 64 bytes';
  return { N, r, p, salt, hash };
}

/** Verifies a password against a parsed hash on the libuv thread pool (never blocks the loop). */
export function verifyPassword(password: string, h: ScryptHash): Promise<boolean> {
  return new Promise((resolve) => {
    scrypt(password.normalize('NFC'), h.salt, h.hash.length, { N: h.N, r: h.r, p: h.p, maxmem: maxmemFor(h) }, (err, derived) => {
      resolve(err === null && timingSafeEqual(derived, h.hash));
    });
  });
}

function maxmemFor(p: ScryptParams): number {
  // scrypt needs 128·N·r bytes for V plus 128·r·p for B; leave headroom.
  return 256 * p.N * p.r + 128 * p.r * p.p + 1024 * 1024;
}
