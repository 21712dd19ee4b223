import { Type, type Static } from '@sinclair/typebox';
import { Size } from '../../config/types.js';

/** A JSON Schema (draft-07, or 2020-12 where declared) written in the config: an object, or `true` / `false`; its `$ref`s may name schema files. */
const JsonSchema = (what: string) =>
  Type.Optional(
    Type.Unsafe<Record<string, unknown> | boolean>({
      type: ['object', 'boolean'],
      description: `JSON Schema the request's ${what} must match: draft-07, or 2020-12 when a schema declares it (\`$schema\`) or comes from an OpenAPI 3.1 document; compiled once at config load. A \`$ref\` may name a JSON or YAML file relative to the config (\`{ $ref: ./schemas/order.json }\`, \`./openapi.yaml#/components/schemas/Order\`), read at load and reload. Absent: not checked.`,
    }),
  );

export const schema = Type.Object(
  {
    body: JsonSchema('JSON body'),
    query: JsonSchema('query parameters (an object of strings; repeated names become arrays)'),
    params: JsonSchema('path parameters (an object of strings)'),
    headers: JsonSchema('headers (an object keyed by lower-case header name)'),
    coerce: Type.Boolean({
      default: true,
      description: 'Coerce query, params and headers (which arrive as strings) to the types their schema names: `"5"` → 5 for `type: integer`; a single value ↔ a one-element array. Checking only: what is forwarded is unchanged.',
    }),
    maxBodySize: Size({ default: '1mb', description: 'Largest request body buffered for body validation; larger → 413.' }),
    requireBody: Type.Boolean({ default: true, description: 'With `body:` set, a POST, PUT or PATCH without a body (or with an empty one) fails validation; false: it passes unchecked. Other methods without a body always pass.' }),
    jsonTypes: Type.Array(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+/[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), {
      default: [],
      description: 'Media types accepted as JSON besides application/json and application/*+json (e.g. `text/json`); any other Content-Type → 415.',
    }),
    maxErrors: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Most errors listed in a 400 response (the count says how many there were).' }),
    allErrors: Type.Boolean({ default: true, description: 'Collect every error (true) or stop at the first per location (false, cheaper on large bodies).' }),
  },
  { additionalProperties: false },
);

export type ValidateConfig = Static<typeof schema>;
