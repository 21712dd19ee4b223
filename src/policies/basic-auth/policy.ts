import { Buffer } from 'node:buffer';
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { ConsumerDirectory, type Identity } from '../../consumers/directory.js';
import { hashPassword, parseScryptHash, verifyPassword, type ScryptHash } from '../../consumers/hash.js';
import { Duration } from '../../config/types.js';
import { anonymousIdentity, authHooks, challenge, commonAuthFields, failures, type AuthOutcome, type Authenticator } from '../auth/authenticator.js';
import { AUTH_RESULTS, counters } from '../auth/counters.js';
import { VerifiedCache } from '../auth/verified-cache.js';

/**
 * `basic-auth`: HTTP Basic (RFC 7617) against `consumers[].basicAuth`, passwords stored as
 * scrypt hashes. scrypt is slow on purpose, so it runs on the thread pool, a successful
 * check is cached (by SHA-256 of the credential) for `cacheTtl`, and at most
 * `maxConcurrent` checks run at once (more → 503) so a password-guessing flood cannot
 * occupy every libuv thread.
 *
 * @example
 *   - basic-auth: { realm: admin }
 */
export const schema = Type.Object(
  {
    hideCredentials: Type.Boolean({ default: true, description: 'Remove the Authorization header before forwarding.' }),
    cacheTtl: Duration({ default: '5m', description: 'How long a verified user/password pair is accepted without running scrypt again; 0 disables.' }),
    cacheSize: Type.Integer({ minimum: 1, default: 10_000, description: 'Verified credentials kept (LRU).' }),
    maxConcurrent: Type.Integer({ minimum: 1, default: 16, description: 'scrypt checks running at once; more answer 503.' }),
    ...commonAuthFields,
  },
  { additionalProperties: false },
);

/** Used for unknown users so that their timing matches known ones (no user enumeration). */
let dummy: ScryptHash | undefined;
const dummyHash = (): ScryptHash => (dummy ??= parseScryptHash(hashPassword('gantry-unknown-user')) as ScryptHash);

/** The basic-auth scheme as an authenticator, for this policy and for `auth: { anyOf }`. */
export function basicAuthenticator(config: typeof schema.static, dir: ConsumerDirectory): Authenticator {
  const c = challenge('Basic', config.realm, 'charset="UTF-8"');
  const { invalid, unavailable } = failures(c);
  const cache = config.cacheTtl > 0 ? new VerifiedCache<Identity>(config.cacheSize) : undefined;
  let running = 0;

  const check = async (user: string, password: string, key: string): Promise<AuthOutcome> => {
    const entry = dir.basicUser(user);
    running++;
    let ok: boolean;
    try {
      ok = await verifyPassword(password, entry?.hash ?? dummyHash());
    } finally {
      running--;
    }
    if (!ok || entry === undefined) return invalid;
    cache?.set(key, entry.identity, Date.now() + config.cacheTtl);
    return entry.identity;
  };

  return {
    challenge: c,
    authenticate: function basicAuth(ctx: RequestContext) {
      const v = ctx.req.headers.authorization;
      if (v === undefined || v.length < 6 || v.charCodeAt(5) !== 32 || v.slice(0, 5).toLowerCase() !== 'basic') return undefined;
      if (v.length > 4096) return invalid;
      const key = cache?.key(v) ?? '';
      const hit = cache?.get(key);
      if (hit !== undefined) return hit;
      const decoded = decode(v.slice(6).trim());
      if (decoded === undefined) return invalid;
      if (running >= config.maxConcurrent) return unavailable;
      return check(decoded[0], decoded[1], key);
    },
    accepted: config.hideCredentials ? (ctx: RequestContext) => ctx.removeRequestHeader('authorization') : undefined,
  };
}

/** RFC 7617 §2: base64 of `user-id ":" password`, user-id without a colon, UTF-8. */
function decode(b64: string): [string, string] | undefined {
  if (b64.length === 0 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return [text.slice(0, colon), text.slice(colon + 1)];
}

export default definePolicy({
  name: 'basic-auth',
  description: 'Authenticates consumers with HTTP Basic credentials checked against scrypt hashes.',
  schema,
  create(config, deps) {
    return authHooks([basicAuthenticator(config, ConsumerDirectory.of(deps.config))], anonymousIdentity(config.anonymous, deps.config), counters('basic-auth', deps.routeName, AUTH_RESULTS));
  },
});
