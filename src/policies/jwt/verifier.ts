import { decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { Logger } from 'pino';
import type { ConsumerDirectory, Identity } from '../../consumers/directory.js';
import { compileMapping, identityFromClaims, type ClaimMapping } from '../auth/claims.js';
import { ASYMMETRIC, SYMMETRIC, type IssuerConfig } from './schema.js';
import { issuerKeys, KeySourceUnavailable, type IssuerKeys } from './keys.js';

/** One trusted issuer compiled: verify options, keys, claim mapping. */
interface CompiledIssuer {
  name: string;
  keys: IssuerKeys;
  options: JWTVerifyOptions;
  claims: [string, (v: unknown) => boolean][];
  mapping: ClaimMapping;
  skewMs: number;
}

/** What verifying a token gave: an identity (with the time it stops being valid) or why not. */
export type Verdict = { identity: Identity; until: number } | 'invalid' | 'unavailable';

/**
 * Verifies JWTs (RFC 7519) with jose against one or several issuers. The issuer is picked
 * by the token's (unverified) `iss` only to choose keys and rules; jose then verifies the
 * signature and checks `iss`, `aud`, `exp`, `nbf` itself.
 *
 * @example
 *   const v = new JwtVerifier([{ issuer: 'https://id.example.com', discovery: true, … }], dir, log);
 *   await v.verify(token) // { identity, until } | 'invalid' | 'unavailable'
 */
export class JwtVerifier {
  readonly #issuers: CompiledIssuer[];
  readonly #byIss = new Map<string, CompiledIssuer>();
  readonly #dir: ConsumerDirectory;
  readonly #log: Logger;

  constructor(issuers: readonly IssuerConfig[], dir: ConsumerDirectory, log: Logger) {
    this.#dir = dir;
    this.#log = log;
    this.#issuers = issuers.map(compileIssuer);
    for (const i of this.#issuers) if (i.options.issuer !== undefined) this.#byIss.set(i.options.issuer as string, i);
  }

  async verify(token: string): Promise<Verdict> {
    let issuer: CompiledIssuer | undefined;
    if (this.#issuers.length === 1) issuer = this.#issuers[0]!;
    else {
      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        return 'invalid';
      }
      issuer = typeof iss === 'string' ? this.#byIss.get(iss) : undefined;
      if (issuer === undefined) return 'invalid';
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys.resolve, issuer.options));
    } catch (e) {
      if (e instanceof KeySourceUnavailable) {
        this.#log.warn({ err: e, issuer: issuer.name }, 'token keys unavailable');
        return 'unavailable';
      }
      if (!(e instanceof errors.JOSEError)) this.#log.debug({ err: e }, 'token rejected');
      return 'invalid';
    }
    for (const [name, ok] of issuer.claims) if (!ok(payload[name])) return 'invalid';
    const identity = identityFromClaims(payload as Record<string, unknown>, issuer.mapping, this.#dir);
    if (identity === undefined) return 'invalid';
    const until = typeof payload.exp === 'number' ? payload.exp * 1000 + issuer.skewMs : Infinity;
    return { identity, until };
  }
}

function compileIssuer(cfg: IssuerConfig): CompiledIssuer {
  const algorithms = cfg.algorithms ?? (cfg.secret !== undefined ? [...SYMMETRIC, ...(cfg.keys || cfg.jwksUrl || cfg.discovery ? ASYMMETRIC : [])] : [...ASYMMETRIC]);
  const required = new Set(cfg.requiredClaims ?? []);
  if (cfg.requireExp !== false) required.add('exp');
  const options: JWTVerifyOptions = {
    algorithms: algorithms as string[],
    clockTolerance: Math.floor((cfg.clockSkew ?? 30_000) / 1000),
    requiredClaims: [...required],
  };
  if (cfg.issuer !== undefined) options.issuer = cfg.issuer;
  if (cfg.audience !== undefined) options.audience = cfg.audience;
  return {
    name: cfg.issuer ?? '(keys)',
    keys: issuerKeys(cfg),
    options,
    claims: Object.entries(cfg.claims ?? {}).map(([k, want]) => [k, claimMatcher(want)]),
    mapping: compileMapping({
      consumerClaim: cfg.consumerClaim ?? 'sub',
      scopesClaim: cfg.scopesClaim ?? 'scope',
      tenantClaim: cfg.tenantClaim,
      tierClaim: cfg.tierClaim,
    }),
    skewMs: cfg.clockSkew ?? 30_000,
  };
}

/** A value must equal; a list means one of; an array claim must contain the value. */
function claimMatcher(want: string | number | boolean | (string | number)[]): (v: unknown) => boolean {
  const allowed = Array.isArray(want) ? want : [want];
  return (v) => (Array.isArray(v) ? v.some((x) => allowed.includes(x as never)) : allowed.includes(v as never));
}
