import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { GatewayConfigSchema } from './schema.js';
import { Duration, OneOrMany, Size } from './types.js';
import { BUILTIN_POLICIES } from '../policies/index.js';
import { missingDescriptions, renderConfigReference } from './reference.js';

const DOC = fileURLToPath(new URL('../../docs/config-schema.md', import.meta.url));

describe('config reference (docs/config-schema.md)', () => {
  it('the committed page is what the generator makes of the schemas now (run `npm run docs:schema`)', () => {
    const generated = renderConfigReference(GatewayConfigSchema, BUILTIN_POLICIES);
    expect(readFileSync(DOC, 'utf8')).toBe(generated);
  });

  it('every property of the root schema and of every built-in policy has a description', () => {
    expect(missingDescriptions(GatewayConfigSchema, BUILTIN_POLICIES).map((m) => m.path)).toEqual([]);
  });

  it('names the properties that lack a description, at their config path', () => {
    const root = Type.Object({
      a: Type.String({ description: 'ok' }),
      b: Type.Array(Type.Object({ c: Type.Integer(), d: Type.String({ description: ' ' }) }), { description: 'list' }),
      m: Type.Record(Type.String(), Type.Object({ e: Type.Boolean() }), { description: 'map' }),
    });
    const policy = { name: 'p', description: 'P.', schema: Type.Object({ f: Type.Optional(Type.Number()) }) };
    expect(missingDescriptions(root, [policy]).map((m) => m.path)).toEqual(['b[].c', 'b[].d', 'm.<name>.e', 'routes[].policies[].p.f']);
  });

  it('renders helper types, enums, unions, maps, defaults and required keys', () => {
    const root = Type.Object(
      {
        timeout: Duration({ default: '5s', description: 'T.' }),
        max: Size({ description: 'M.' }),
        mode: Type.Union([Type.Literal('a'), Type.Literal('b')], { default: 'a', description: 'Mode.' }),
        hosts: OneOrMany(Type.String(), { description: 'H.' }),
        port: Type.Integer({ minimum: 1, maximum: 65535, description: 'P.' }),
        pools: Type.Record(Type.String(), Type.Object({ size: Type.Integer({ default: 2, description: 'S.' }) }, { additionalProperties: false, description: 'A pool.' }), {
          description: 'Pools.',
        }),
        on: Type.Array(Type.Union([Type.Literal('503'), Type.Literal(503)]), { default: ['503'], description: 'On.' }),
        jwk: Type.Object({ kty: Type.String({ description: 'K.' }) }, { additionalProperties: true, description: 'A key.' }),
      },
      { additionalProperties: false, description: 'Root.' },
    );
    const md = renderConfigReference(root, []);
    expect(md).toContain('| `timeout` | duration | no | `5s` | T. |');
    expect(md).toContain('| `max` | size | yes | — | M. |');
    expect(md).toContain('| `mode` | one of `a`, `b` | no | `a` | Mode. |');
    expect(md).toContain('| `hosts` | string or a list of them | yes | — | H. |');
    expect(md).toContain('| `port` | integer, 1–65535 | yes | — | P. |');
    expect(md).toContain('| `pools` | map of `<name>` → object (see `pools.<name>`) | yes | — | Pools. |');
    expect(md).toContain('| `on` | list of (one of `"503"`, `503`) | no | `["503"]` | On. |');
    expect(md).toContain('### `jwk`\n\nA key.\n\nKeys other than those listed are accepted too.\n');
    expect(md).not.toContain('### `pools.<name>`\n\nA pool.\n\nKeys other');
    expect(md).toContain('### `pools.<name>`\n\nA pool.\n\n| Key | Type | Required | Default | Description |\n| --- | --- | --- | --- | --- |\n| `size` | integer | no | `2` | S. |');
  });
});
