import type { PolicyDefinition } from './policy.js';
import { PHASES } from './phases.js';

/**
 * The policies a config may name: the built-ins plus the config's `plugins:`. A registry
 * map, not an if-ladder: adding a policy is adding a folder and one line in
 * policies/index.ts.
 */
export class PolicyRegistry {
  readonly #defs = new Map<string, PolicyDefinition>();

  constructor(defs: Iterable<PolicyDefinition> = []) {
    for (const d of defs) this.add(d);
  }

  /** Adds a definition; throws when the name is taken or the shape is wrong. */
  add(def: PolicyDefinition): void {
    const problem = checkDefinition(def);
    if (problem) throw new Error(problem);
    if (this.#defs.has(def.name)) throw new Error(`a policy named '${def.name}' is already registered`);
    this.#defs.set(def.name, def);
  }

  get(name: string): PolicyDefinition | undefined {
    return this.#defs.get(name);
  }

  names(): string[] {
    return [...this.#defs.keys()].sort();
  }

  /** A copy to which a config's plugins can be added without touching the built-ins. */
  fork(): PolicyRegistry {
    return new PolicyRegistry(this.#defs.values());
  }
}

/** Why a module export is not a policy definition, or undefined when it is one. */
export function checkDefinition(def: unknown): string | undefined {
  if (typeof def !== 'object' || def === null) return 'a policy module must export a definition made with definePolicy()';
  const d = def as Partial<PolicyDefinition>;
  if (typeof d.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(d.name)) return 'a policy needs a kebab-case `name`';
  if (typeof d.schema !== 'object' || d.schema === null) return `policy '${d.name}' needs a \`schema\` (a TypeBox schema)`;
  if (typeof d.create !== 'function') return `policy '${d.name}' needs a \`create(config, deps)\` function`;
  return undefined;
}

/** Rejects hooks outside the closed phase list (plus `close`). */
export function checkHooks(name: string, hooks: object): string | undefined {
  for (const k of Object.keys(hooks)) {
    if (k === 'close') continue;
    if (!(PHASES as readonly string[]).includes(k)) {
      return `policy '${name}' returned an unknown hook '${k}' (phases: ${PHASES.join(', ')})`;
    }
    if (typeof (hooks as Record<string, unknown>)[k] !== 'function' && (hooks as Record<string, unknown>)[k] !== undefined) {
      return `policy '${name}' hook '${k}' must be a function`;
    }
  }
  return undefined;
}
