import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry } from '../../config/entries.js';
import { SchemaCompiler } from './compile.js';

const LOCATIONS = ['body', 'query', 'params', 'headers'] as const;

/**
 * Compiles every `validate` entry's schemas at load, so that one Ajv cannot compile (an
 * unknown keyword, a `$ref` that resolves nowhere, a bad `pattern`) is reported as
 * `file:line routes[0].policies[1].validate.body: …` by `gantry validate` and at startup.
 *
 * @example
 *   checkValidateEntries(config, source); // …validate.body: invalid JSON Schema: strict mode: unknown keyword: "minimun"
 */
export function checkValidateEntries(config: GatewayConfig, source: ConfigSource): void {
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'validate' || typeof settings !== 'object' || settings === null) return;
    const s = settings as Record<string, unknown>;
    const compiler = new SchemaCompiler({ coerce: s.coerce !== false, allErrors: false });
    for (const loc of LOCATIONS) {
      const schema = s[loc];
      // Other shapes are reported by the policy's own schema.
      if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) continue;
      try {
        compiler.compile(schema as Record<string, unknown> | boolean, loc !== 'body');
      } catch (e) {
        source.issueAt([...at, loc], `invalid JSON Schema: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  });
}
