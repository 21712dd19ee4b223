import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('validate config', () => {
  policyConfigCases('validate', [
    { desc: 'an empty config', config: '{}' },
    {
      desc: 'every location and option',
      config: '{ body: { type: object, required: [a], properties: { a: { type: string, format: email } } }, query: { type: object, properties: { limit: { type: integer } } }, params: true, headers: { type: object }, coerce: false, maxBodySize: 64kb, requireBody: false, jsonTypes: [text/json], maxErrors: 3, allErrors: false }',
    },
    { desc: 'a schema with an unknown keyword', config: '{ body: { type: object, minimun: 3 } }', error: /^\/tmp\/gateway\.yaml:6 routes\[0\]\.policies\[0\]\.validate\.body: invalid JSON Schema: strict mode: unknown keyword: "minimun"$/m },
    { desc: 'a schema with an unresolved $ref', config: '{ query: { $ref: "#/definitions/nope" } }', error: /validate\.query: invalid JSON Schema: can't resolve reference #\/definitions\/nope/ },
    { desc: 'a schema with a bad type', config: '{ params: { type: integr } }', error: /validate\.params: invalid JSON Schema: .*type/ },
    { desc: 'an unknown format', config: '{ headers: { properties: { x-a: { format: colour } } } }', error: /validate\.headers: invalid JSON Schema: unknown format "colour"/ },
    { desc: 'a schema that is not an object', config: '{ body: 3 }', error: /validate\.body: must be object,boolean|validate\.body: must be/ },
    { desc: 'an unknown key', config: '{ bodies: {} }', error: /validate\.bodies: unknown key/ },
    { desc: 'a bad size', config: '{ maxBodySize: huge }', error: /validate\.maxBodySize: must be a size/ },
    { desc: 'a bad media type', config: '{ jsonTypes: [json] }', error: /validate\.jsonTypes\[0\]/ },
    { desc: 'maxErrors of 0', config: '{ maxErrors: 0 }', error: /validate\.maxErrors/ },
  ]);
});
