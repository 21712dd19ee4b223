import { Type, type Static } from '@sinclair/typebox';
import { Size } from '../../config/types.js';

const Rule = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'Fields to mask: `user.ssn`, `items[*].card`, `items[0].card`, `*.token`, `**.password` (any depth), `["a.b"]` (a name with dots).' }),
    action: Type.Union([Type.Literal('remove'), Type.Literal('redact'), Type.Literal('partial'), Type.Literal('hash')], {
      default: 'redact',
      description: '`remove` the member; `redact` it to `replacement`; `partial`: keep the last `keep` characters, the others become `*`; `hash`: the first `length` hex digits of SHA-256(salt + value).',
    }),
    replacement: Type.String({ default: '***', description: '`redact`: the value put in place; `partial`: the value put in place of objects, arrays, booleans and null.' }),
    keep: Type.Integer({ minimum: 0, maximum: 64, default: 4, description: '`partial`: how many trailing characters stay visible (a value no longer than this is masked entirely).' }),
    length: Type.Integer({ minimum: 8, maximum: 64, default: 16, description: '`hash`: how many hex digits of the SHA-256 digest are kept.' }),
    salt: Type.String({ default: '', description: '`hash`: text hashed before the value, so that short values (an SSN, a phone number) cannot be found by hashing every candidate. Keep it secret: `salt: "${MASK_SALT}"` reads it from the environment.' }),
  },
  { additionalProperties: false },
);

export const schema = Type.Object(
  {
    rules: Type.Array(Rule, { minItems: 1, description: 'Masking rules, applied in order to JSON response bodies.' }),
    maxBodySize: Size({
      default: '1mb',
      description: 'Largest JSON body masked (after decoding). A larger body is never sent unmasked: it is answered 502 (or cut off, when another policy already streams the body).',
    }),
  },
  { additionalProperties: false },
);

export type MaskConfig = Static<typeof schema>;
