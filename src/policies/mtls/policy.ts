import type { TLSSocket } from 'node:tls';
import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { ConsumerDirectory } from '../../consumers/directory.js';
import { anonymousIdentity, authHooks, challenge, commonAuthFields, failures, type AuthOutcome, type Authenticator } from '../auth/authenticator.js';
import { AUTH_RESULTS, counters } from '../auth/counters.js';

/**
 * `mtls`: identifies the consumer by the client certificate of an `https` listener with
 * `tls.clientCa`. The certificate must chain to that CA (checked by the TLS stack); it is
 * then mapped to a consumer by SHA-256 fingerprint, subject alternative name or subject CN
 * (`consumers[].certificates`), in the order `match` lists.
 *
 * @example
 *   - mtls: { match: [fingerprint, san, subject] }
 */
const Field = Type.Union([Type.Literal('fingerprint'), Type.Literal('san'), Type.Literal('subject')]);

export const schema = Type.Object(
  {
    match: Type.Array(Field, {
      minItems: 1,
      uniqueItems: true,
      default: ['fingerprint', 'san', 'subject'],
      description: 'Certificate fields tried, in order, to find the consumer.',
    }),
    ...commonAuthFields,
  },
  { additionalProperties: false },
);

type Finder = (cert: PeerCert, dir: ConsumerDirectory) => ReturnType<ConsumerDirectory['byId']>;
interface PeerCert {
  fingerprint256?: string;
  subjectaltname?: string;
  subject?: { CN?: string | string[] };
}

const FINDERS: Record<'fingerprint' | 'san' | 'subject', Finder> = {
  fingerprint: (c, d) => (c.fingerprint256 ? d.byFingerprint(c.fingerprint256) : undefined),
  san(c, d) {
    // Node prints SANs as `DNS:a, URI:b`; values containing ', ' are quoted JSON strings.
    if (!c.subjectaltname) return undefined;
    for (const part of c.subjectaltname.split(', ')) {
      const hit = d.bySan(part);
      if (hit !== undefined) return hit;
    }
    return undefined;
  },
  subject(c, d) {
    const cn = c.subject?.CN;
    return typeof cn === 'string' ? d.bySubject(cn) : undefined;
  },
};

/** The mtls scheme as an authenticator, for this policy and for `auth: { anyOf }`. */
export function mtlsAuthenticator(config: typeof schema.static, dir: ConsumerDirectory): Authenticator {
  const finders = config.match.map((m) => FINDERS[m]);
  const c = challenge('ClientCertificate', config.realm);
  const { invalid } = failures(c);
  // One TLS session has one peer certificate: map it once per connection, not per request.
  const bySocket = new WeakMap<TLSSocket, AuthOutcome>();
  const identify = (socket: TLSSocket): AuthOutcome => {
    const cert = socket.getPeerCertificate() as PeerCert;
    if (!cert || Object.keys(cert).length === 0) return undefined;
    // Not signed by clientCa, expired, or otherwise rejected by the TLS stack.
    if (!socket.authorized) return invalid;
    for (const f of finders) {
      const hit = f(cert, dir);
      if (hit !== undefined) return hit;
    }
    return invalid;
  };
  return {
    challenge: c,
    authenticate: function mtls(ctx: RequestContext) {
      const socket = ctx.req.socket as TLSSocket;
      if (socket.encrypted !== true) return undefined;
      if (bySocket.has(socket)) return bySocket.get(socket);
      const out = identify(socket);
      bySocket.set(socket, out);
      return out;
    },
  };
}

export default definePolicy({
  name: 'mtls',
  description: 'Authenticates consumers by client certificate (mTLS), by fingerprint, SAN or subject CN.',
  schema,
  create(config, deps) {
    return authHooks([mtlsAuthenticator(config, ConsumerDirectory.of(deps.config))], anonymousIdentity(config.anonymous, deps.config), counters('mtls', deps.routeName, AUTH_RESULTS));
  },
});
