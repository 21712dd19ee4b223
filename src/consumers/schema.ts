import { Type, type Static } from '@sinclair/typebox';
import { Name, PolicyEntry } from '../config/types.js';

/**
 * The `consumers:` section: identities known to the gateway (DESIGN "Consumer"), with the
 * credentials that prove them. Secrets are stored hashed only: API keys as `sha256:<hex>`,
 * passwords as scrypt hashes (`gantry hash-key` prints both).
 *
 * @example
 *   consumers:
 *     - id: acme-mobile
 *       tenant: acme
 *       tier: premium
 *       scopes: [orders:read]
 *       apiKeys: [ "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" ]
 *       basicAuth: { username: acme, password: "scrypt:16384:8:1:…:…" }
 *       certificates: [ { subject: acme-mobile.clients.example.com } ]
 */

/** `sha256:` then 64 hex digits. */
export const API_KEY_HASH_PATTERN = '^sha256:[0-9a-fA-F]{64}$';
/** `scrypt:N:r:p:<salt base64url>:<hash base64url>` (see consumers/hash.ts). */
export const SCRYPT_HASH_PATTERN = '^scrypt:[0-9]+:[0-9]+:[0-9]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$';

export const CertificateMapping = Type.Object(
  {
    subject: Type.Optional(Type.String({ minLength: 1, description: 'Subject common name (CN) of the client certificate.' })),
    san: Type.Optional(
      Type.String({
        pattern: '^(DNS|URI|email|IP Address):.+$',
        description: 'A subject alternative name as Node prints it: `DNS:client.example.com`, `URI:spiffe://acme/web`, `email:a@b.c`, `IP Address:10.0.0.1`.',
      }),
    ),
    fingerprint: Type.Optional(
      Type.String({
        pattern: '^(sha256:)?[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2}){31}$',
        description: 'SHA-256 fingerprint of the DER certificate: 64 hex digits, colons optional, optional `sha256:` prefix.',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1, description: 'One way to recognise this consumer\'s client certificate: exactly one of subject, san, fingerprint.' },
);

export const BasicAuthCredential = Type.Object(
  {
    username: Type.String({ minLength: 1, pattern: '^[^:]+$', description: 'User name (no colon, RFC 7617 §2).' }),
    password: Type.String({ pattern: SCRYPT_HASH_PATTERN, description: 'scrypt hash of the password (`gantry hash-key --password`).' }),
  },
  { additionalProperties: false, description: 'HTTP Basic credentials (RFC 7617), password stored as an scrypt hash.' },
);

export const ConsumerConfigSchema = Type.Object(
  {
    id: Name({ description: 'Unique consumer id: sent upstream as X-Consumer-Id and used by rate limits.' }),
    tenant: Type.Optional(Type.String({ minLength: 1, description: 'Tenant the consumer belongs to (X-Consumer-Tenant).' })),
    tier: Type.Optional(Type.String({ minLength: 1, description: 'Plan or tier policies can key on (e.g. rate limits).' })),
    scopes: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Scopes or roles granted to this consumer\'s static credentials (API keys, Basic, certificates).' }),
    apiKeys: Type.Array(Type.String({ pattern: API_KEY_HASH_PATTERN }), { default: [], description: 'API keys as `sha256:<hex>` digests; never in clear.' }),
    basicAuth: Type.Array(BasicAuthCredential, { default: [], description: 'HTTP Basic credentials.' }),
    certificates: Type.Array(CertificateMapping, { default: [], description: 'Client certificates (mTLS) that identify this consumer.' }),
    policies: Type.Optional(
      Type.Array(PolicyEntry, {
        default: [],
        description: 'Policies for this consumer\'s requests, run right after the policy that identified it (e.g. a rate limit of its own).',
      }),
    ),
  },
  { additionalProperties: false, description: 'An identity known to the gateway.' },
);

export const ConsumersSchema = Type.Array(ConsumerConfigSchema, { default: [], description: 'Consumers: identities and their (hashed) credentials.' });

export type ConsumerConfig = Static<typeof ConsumerConfigSchema>;
