import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

/** Schema files written to a temp folder; the config is said to live there, so `./…` resolves into it. */
const dir = mkdtempSync(join(tmpdir(), 'gantry-schemas-'));
const write = (name: string, text: string) => {
  mkdirSync(join(dir, name, '..'), { recursive: true });
  writeFileSync(join(dir, name), text);
};
write('schemas/order.json', JSON.stringify({ type: 'object', required: ['items'], properties: { items: { type: 'array', items: { $ref: 'common.yaml#/$defs/item' } } } }));
write('schemas/common.yaml', '$defs:\n  item:\n    type: object\n    properties:\n      qty: { $ref: "#/definitions/qty" }\ndefinitions:\n  qty: { type: integer, minimum: 1 }\n');
write('openapi.yaml', 'openapi: 3.0.3\ninfo: { title: t, version: "1" }\npaths: {}\ncomponents:\n  schemas:\n    Order:\n      type: object\n      example: { id: 1 }\n      properties:\n        note: { type: string, nullable: true }\n        item: { $ref: "#/components/schemas/Item" }\n    Item: { type: object, xml: { name: item } }\n');
write('bad.json', '{\n  "type": "object",\n}\n');
write('bad.yaml', 'type: object\nproperties:\n  a: { type: string\n');
write('typo.json', JSON.stringify({ definitions: { x: { type: 'object', minimun: 3 } } }));
write('dangling.json', JSON.stringify({ properties: { a: { $ref: './gone.json' } } }));
write('badtype.yaml', 'type: objekt\n');
write('loop-a.json', JSON.stringify({ properties: { b: { $ref: 'loop-b.json' } } }));
write('loop-b.json', JSON.stringify({ properties: { a: { $ref: 'loop-a.json' } } }));
write('list.json', '[1, 2]');
write('openapi-31.yaml', 'openapi: 3.1.0\ninfo: { title: t, version: "1" }\npaths: {}\ncomponents:\n  schemas:\n    Pair: { type: array, prefixItems: [ { type: string }, { type: integer } ], unevaluatedItems: false }\n    Named: { type: [object, "null"], dependentRequired: { a: [b] } }\n');
write('draft07.json', JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'string' } } }));
write('tuple07.json', JSON.stringify({ type: 'array', prefixItems: [{ type: 'string' }] }));
write('modern.json', JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', $defs: { n: { type: 'integer' } }, type: 'object', properties: { n: { $ref: '#/$defs/n' } }, unevaluatedProperties: false }));
write('s2019.json', JSON.stringify({ $schema: 'https://json-schema.org/draft/2019-09/schema', type: 'object' }));

const at = (loc: string) => new RegExp(`gateway\\.yaml:6 routes\\[0\\]\\.policies\\[0\\]\\.validate\\.${loc}: `);
const err = (loc: string, msg: string) => new RegExp(at(loc).source + msg);

describe('validate schema files', () => {
  policyConfigCases(
    'validate',
    [
      { desc: 'a body schema in a JSON file referencing a YAML file ($defs and definitions fragments)', config: '{ body: { $ref: ./schemas/order.json } }' },
      { desc: 'a file reference nested in an inline schema, for query', config: '{ query: { type: object, properties: { o: { $ref: "schemas/common.yaml#/$defs/item" } } } }' },
      { desc: 'an OpenAPI component (nullable, example, xml)', config: '{ body: { $ref: "./openapi.yaml#/components/schemas/Order" } }' },
      { desc: 'files that reference each other in a cycle', config: '{ body: { $ref: ./loop-a.json } }' },
      { desc: 'a missing schema file', config: '{ body: { $ref: ./schemas/nope.json } }', error: err('body', 'cannot read schema file schemas/nope\\.json: ENOENT') },
      { desc: 'a missing file referenced by a schema file', config: '{ params: { $ref: dangling.json } }', error: err('params', 'cannot read schema file gone\\.json \\(referenced from dangling\\.json\\): ENOENT') },
      { desc: 'a schema file that is not JSON', config: '{ body: { $ref: ./bad.json } }', error: err('body', 'schema file bad\\.json:3 is not valid JSON') },
      { desc: 'a schema file that is not YAML', config: '{ body: { $ref: ./bad.yaml } }', error: err('body', 'schema file bad\\.yaml:4 is not valid YAML') },
      { desc: 'a schema file holding an array', config: '{ body: { $ref: ./list.json } }', error: err('body', 'schema file list\\.json does not hold a JSON Schema') },
      { desc: 'a fragment that points at nothing', config: '{ body: { $ref: "./schemas/order.json#/definitions/nope" } }', error: err('body', '\\$ref "schemas/order\\.json#/definitions/nope" resolves to nothing') },
      { desc: 'an OpenAPI reference outside its components', config: '{ body: { $ref: "./openapi.yaml#/paths" } }', error: err('body', '.*openapi\\.yaml has no /paths') },
      { desc: 'an unknown keyword in a schema file (strict mode)', config: '{ headers: { $ref: "./typo.json#/definitions/x" } }', error: err('headers', 'invalid JSON Schema: typo\\.json#/definitions/x: strict mode: unknown keyword: "minimun"') },
      { desc: 'a schema file Ajv\'s meta-schema refuses', config: '{ body: { $ref: ./badtype.yaml } }', error: err('body', 'invalid JSON Schema: badtype\\.yaml: schema is invalid') },
      { desc: 'OpenAPI 3.1 components: 2020-12 keywords (prefixItems, unevaluatedItems, dependentRequired)', config: '{ body: { $ref: "./openapi-31.yaml#/components/schemas/Pair" }, query: { $ref: "./openapi-31.yaml#/components/schemas/Named" } }' },
      { desc: 'a $schema 2020-12 file', config: '{ body: { $ref: ./modern.json } }' },
      { desc: 'an inline schema declaring 2020-12', config: '{ body: { $schema: "https://json-schema.org/draft/2020-12/schema", type: array, prefixItems: [ { type: string } ] } }' },
      { desc: 'an inline schema declaring 2020-12 beside an undeclared file: the file follows', config: '{ query: { $schema: "https://json-schema.org/draft/2020-12/schema", type: object }, body: { $ref: ./tuple07.json } }' },
      { desc: 'a 2020-12 keyword in an undeclared file: draft-07, unknown keyword', config: '{ body: { $ref: ./tuple07.json } }', error: err('body', 'invalid JSON Schema: tuple07\\.json: strict mode: unknown keyword: "prefixItems"') },
      { desc: 'an inline 2020-12 keyword without $schema: draft-07', config: '{ body: { type: array, prefixItems: [ { type: string } ] } }', error: err('body', 'invalid JSON Schema: strict mode: unknown keyword: "prefixItems"') },
      {
        desc: 'a draft-07 file and an OpenAPI 3.1 document in one entry',
        config: '{ body: { $ref: "./openapi-31.yaml#/components/schemas/Pair" }, query: { $ref: ./draft07.json } }',
        error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.validate: one validate entry mixes JSON Schema dialects: draft07\.json \(\$schema\) is draft-07, openapi-31\.yaml \(OpenAPI\) is 2020-12/,
      },
      { desc: 'an OpenAPI 3.0 and a 3.1 document in one entry', config: '{ body: { $ref: "./openapi-31.yaml#/components/schemas/Pair" }, query: { $ref: "./openapi.yaml#/components/schemas/Item" } }', error: /validate: one validate entry mixes JSON Schema dialects: openapi\.yaml \(OpenAPI\) is draft-07, openapi-31\.yaml \(OpenAPI\) is 2020-12/ },
      { desc: 'a $schema of another dialect', config: '{ body: { $ref: ./s2019.json } }', error: err('body', 'schema file s2019\\.json: \\$schema "https://json-schema\\.org/draft/2019-09/schema" is not a supported dialect \\(JSON Schema draft-07 or 2020-12\\)') },
      { desc: 'a remote reference', config: '{ body: { $ref: "https://example.com/s.json" } }', error: err('body', '\\$ref "https://example\\.com/s\\.json": only files are loaded') },
    ],
    { file: join(dir, 'gateway.yaml') },
  );
});
