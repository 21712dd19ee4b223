import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry } from '../../config/entries.js';
import { entryDialect, SchemaCompiler } from './compile.js';
import { resolveSchemaFiles, SchemaFileError, type SchemaFiles } from './files.js';

const LOCATIONS = ['body', 'query', 'params', 'headers'] as const;

/**
 * Reads the schema files every `validate` entry references and compiles its schemas at load,
 * so that a schema Ajv cannot compile (an unknown keyword, a `$ref` that resolves nowhere, a
 * bad `pattern`) or a schema file that is missing or does not parse is reported as
 * `file:line routes[0].policies[1].validate.body: …` by `gantry validate`, at startup and on
 * reload. `baseDir` is the config's folder: relative `$ref`s resolve against it.
 *
 * @example
 *   checkValidateEntries(config, '/etc/gantry', source); // …validate.body: cannot read schema file schemas/order.json: ENOENT
 */
export function checkValidateEntries(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'validate' || typeof settings !== 'object' || settings === null) return;
    const s = settings as Record<string, unknown>;
    const files: SchemaFiles = new Map();
    const schemas = new Map<(typeof LOCATIONS)[number], Record<string, unknown> | boolean>();
    for (const loc of LOCATIONS) {
      const schema = s[loc];
      // Other shapes are reported by the policy's own schema.
      if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) continue;
      try {
        schemas.set(loc, resolveSchemaFiles(schema, baseDir, files) as Record<string, unknown> | boolean);
      } catch (e) {
        if (!(e instanceof SchemaFileError)) throw e;
        source.issueAt([...at, loc], e.message);
      }
    }
    let dialect;
    try {
      dialect = entryDialect(files, [...schemas].map(([loc, schema]) => [loc, s[loc] ?? schema]));
    } catch (e) {
      if (!(e instanceof SchemaFileError)) throw e;
      source.issueAt(at, e.message);
      return;
    }
    const compiler = new SchemaCompiler({ coerce: s.coerce !== false, allErrors: false }, files, dialect);
    for (const [loc, schema] of schemas) {
      try {
        compiler.compile(schema, loc !== 'body');
      } catch (e) {
        source.issueAt([...at, loc], `invalid JSON Schema: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  });
}
