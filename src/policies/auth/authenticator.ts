import { Buffer } from 'node:buffer';
import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../pipeline/context.js';
import type { PolicyHooks, Reply, RequestResult } from '../../pipeline/policy.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type GatewayErrorCode } from '../../errors.js';
import type { HeaderList } from '../../http/headers.js';
import { ConsumerDirectory, makeIdentity, type Identity } from '../../consumers/directory.js';
import { setIdentity } from '../../consumers/identity.js';
import type { GatewayConfig } from '../../config/schema.js';
import { Name } from '../../config/types.js';
import type { AUTH_RESULTS, Counters } from './counters.js';

/**
 * The common shape of every authentication scheme (api-key, basic-auth, jwt,
 * oauth2-introspection, mtls), so that each can run alone as a policy or inside
 * `auth: { anyOf: [...] }`.
 */

/** Why a credential was not accepted. Preallocated: failing costs no allocation. */
export interface AuthFailure {
  readonly failure: 'invalid' | 'unavailable';
  /** WWW-Authenticate challenge for this failure (RFC 9110 §11.6.1), if the scheme has one. */
  readonly challenge: string;
}

/** An identity, a failure, or `undefined` when the request carries no credential of this scheme. */
export type AuthOutcome = Identity | AuthFailure | undefined;

export interface Authenticator {
  /** Challenge sent with a 401 when no credential was presented. */
  readonly challenge: string;
  /** Checks the request's credential; returns a Promise only when it must do real I/O. */
  authenticate(ctx: RequestContext): AuthOutcome | Promise<AuthOutcome>;
  /** Runs after this scheme authenticated the request (e.g. hide the credential from upstream). */
  accepted?(ctx: RequestContext): void;
  close?(): void | Promise<void>;
}

/** Fields shared by every auth policy's schema. */
export const commonAuthFields = {
  anonymous: Type.Optional(
    Name({ description: 'Consumer id to use when the request carries no credential at all (an invalid credential is still 401). Unset: 401.' }),
  ),
  realm: Type.String({ default: 'gantry', pattern: '^[^"\\\\]*$', description: 'Realm named in WWW-Authenticate challenges (RFC 9110 §11.5).' }),
};

export function isFailure(o: AuthOutcome): o is AuthFailure {
  return o !== undefined && (o as AuthFailure).failure !== undefined;
}

/** Preallocated failure values for a scheme. */
export function failures(invalidChallenge: string, unavailableChallenge = invalidChallenge): { invalid: AuthFailure; unavailable: AuthFailure } {
  return {
    invalid: Object.freeze({ failure: 'invalid', challenge: invalidChallenge }),
    unavailable: Object.freeze({ failure: 'unavailable', challenge: unavailableChallenge }),
  };
}

/** Looks up the `anonymous:` consumer; throws (config build error) when it does not exist. */
export function anonymousIdentity(id: string | undefined, config: GatewayConfig): Identity | undefined {
  if (id === undefined) return undefined;
  const base = ConsumerDirectory.of(config).byId(id);
  if (base === undefined) throw new Error(`anonymous consumer '${id}' is not defined in consumers:`);
  return makeIdentity({ ...base, anonymous: true });
}

/**
 * Policy hooks running one or more authenticators in order: the first to accept the
 * credential wins. None accepting: a 503 if a verifier was unreachable, else a 401 (with
 * the challenges of every scheme, RFC 9110 §11.6.1), or the anonymous consumer when no
 * credential was presented at all.
 *
 * @example authHooks([apiKeyAuthenticator], undefined, counters('api-key', 'orders', AUTH_RESULTS))
 */
export function authHooks(list: readonly Authenticator[], anonymous: Identity | undefined, count: Counters<(typeof AUTH_RESULTS)[number]>): PolicyHooks {
  const challenges: HeaderList = [];
  for (const a of list) challenges.push('www-authenticate', a.challenge);

  const settle = (ctx: RequestContext, from: number, failed: AuthFailure | undefined): RequestResult | Promise<RequestResult> => {
    for (let i = from; i < list.length; i++) {
      const a = list[i]!;
      let out;
      try {
        out = a.authenticate(ctx);
      } catch (e) {
        ctx.logger.warn({ err: e, requestId: ctx.id }, 'authenticator failed');
        out = UNEXPECTED;
      }
      if (isThenable(out)) {
        return out.then(
          (o) => decide(ctx, a, o, i, failed),
          (e: unknown) => {
            ctx.logger.warn({ err: e, requestId: ctx.id }, 'authenticator failed');
            return decide(ctx, a, UNEXPECTED, i, failed);
          },
        );
      }
      if (out === undefined) continue;
      if (isFailure(out)) {
        failed = worse(failed, out);
        continue;
      }
      setIdentity(ctx, out);
      a.accepted?.(ctx);
      count.accepted.value++;
      return undefined;
    }
    return conclude(ctx, failed);
  };

  const decide = (ctx: RequestContext, a: Authenticator, out: AuthOutcome, i: number, failed: AuthFailure | undefined) => {
    if (out !== undefined && !isFailure(out)) {
      setIdentity(ctx, out);
      a.accepted?.(ctx);
      count.accepted.value++;
      return undefined;
    }
    return settle(ctx, i + 1, out === undefined ? failed : worse(failed, out));
  };

  const conclude = (ctx: RequestContext, failed: AuthFailure | undefined): RequestResult => {
    if (failed === undefined) {
      if (anonymous !== undefined) {
        setIdentity(ctx, anonymous);
        count.anonymous.value++;
        return undefined;
      }
      count.missing.value++;
      return problemReply(ctx, 'GW_ERR_UNAUTHORIZED', 'A valid credential is required.', challenges);
    }
    if (failed.failure === 'unavailable') {
      count.unavailable.value++;
      return problemReply(ctx, 'GW_ERR_AUTH_UNAVAILABLE', 'The credential could not be checked right now; retry later.', ['retry-after', '1']);
    }
    // Never say which part of the credential was wrong (the RFCs' error codes at most).
    count.invalid.value++;
    return problemReply(ctx, 'GW_ERR_UNAUTHORIZED', 'The credential is not valid.', failed.challenge ? ['www-authenticate', failed.challenge] : challenges);
  };

  const closers = list.filter((a) => a.close !== undefined);
  return {
    request: function authenticate(ctx) {
      return settle(ctx, 0, undefined);
    },
    close: closers.length ? async () => void (await Promise.all(closers.map((a) => a.close!()))) : undefined,
  };
}

/** An invalid credential outranks a missing one; an unreachable verifier outranks both (fail closed, but say so). */
function worse(a: AuthFailure | undefined, b: AuthFailure): AuthFailure {
  if (a === undefined) return b;
  return b.failure === 'unavailable' ? b : a;
}

const UNEXPECTED: AuthFailure = Object.freeze({ failure: 'unavailable', challenge: '' });

/**
 * A problem+json reply (RFC 9457) for a policy to return, with the request id.
 *
 * @example return problemReply(ctx, 'GW_ERR_FORBIDDEN', 'Missing scope.');
 */
export function problemReply(ctx: RequestContext, code: GatewayErrorCode, detail: string, extra?: HeaderList): Reply {
  ctx.errorCode = code;
  const problem = problemFor(code, detail, ctx.id);
  problem.instance = ctx.path;
  const headers: HeaderList = ['content-type', PROBLEM_CONTENT_TYPE, 'cache-control', 'no-store'];
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
  return { status: problem.status, headers, body: Buffer.from(JSON.stringify(problem)) };
}

/** `Scheme realm="…"` plus extra auth-params. */
export function challenge(scheme: string, realm: string, params = ''): string {
  return `${scheme} realm="${realm}"${params ? `, ${params}` : ''}`;
}
