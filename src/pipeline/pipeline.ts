import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../store/clock.js';
import type { PolicyRegistry } from './registry.js';
import { checkHooks } from './registry.js';
import type { LogHook, PolicyHooks, RequestHook, ResponseHook } from './policy.js';
import { BuildError } from '../config/build-error.js';
import type { ConfigPath } from '../config/entries.js';
import type { RouteJoins } from './consumer-policies.js';

/** The hooks of one route, global policies first, in config order. Compiled once per load. */
export interface Pipeline {
  readonly request: readonly RequestHook[];
  readonly response: readonly ResponseHook[];
  readonly log: readonly LogHook[];
  /** Names of the policies, in order (explain, status). */
  readonly policies: readonly string[];
  /** Set when some consumer has policies of its own: they join once the consumer is known (consumer-policies.ts). */
  readonly consumers?: RouteJoins | undefined;
}

/** A policy instance built from one config entry. */
export interface PolicyInstance {
  name: string;
  hooks: PolicyHooks;
}

export interface BuildPolicyDeps {
  registry: PolicyRegistry;
  config: GatewayConfig;
  logger: Logger;
  baseDir: string;
  store: Store;
  clock: Clock;
}

/**
 * Instantiates policy entries (`[{ name: config }]`) listed at config path `at`; a factory
 * that fails, or returns a bad hook, throws a BuildError at the entry's path
 * (`routes[2].policies[0].jwt`). What was created before the failure is closed by the caller
 * through `created`.
 *
 * @example
 *   const created: PolicyInstance[] = [];
 *   await createPolicies(route.policies, route.name, deps, ['routes', 2, 'policies'], created);
 */
export async function createPolicies(
  entries: readonly Record<string, unknown>[],
  routeName: string | undefined,
  deps: BuildPolicyDeps,
  at: ConfigPath = [],
  created: PolicyInstance[] = [],
): Promise<PolicyInstance[]> {
  const out: PolicyInstance[] = [];
  for (const [j, entry] of entries.entries()) {
    const name = Object.keys(entry)[0]!;
    const where = [...at, j, name];
    const def = deps.registry.get(name);
    if (!def) throw new BuildError(where, `unknown policy '${name}'`);
    let hooks: PolicyHooks;
    try {
      hooks = await def.create(entry[name] as never, {
        logger: deps.logger.child({ policy: name, ...(routeName ? { route: routeName } : {}) }),
        config: deps.config,
        routeName,
        baseDir: deps.baseDir,
        store: deps.store,
        clock: deps.clock,
      });
    } catch (e) {
      throw BuildError.within(where, e, routeName === undefined ? undefined : `route "${routeName}"`);
    }
    const problem = checkHooks(name, hooks);
    if (problem) throw new BuildError(where, problem);
    out.push({ name, hooks });
    created.push({ name, hooks });
  }
  return out;
}

export function composePipeline(instances: readonly PolicyInstance[]): Pipeline {
  const request: RequestHook[] = [];
  const response: ResponseHook[] = [];
  const log: LogHook[] = [];
  for (const { hooks } of instances) {
    if (hooks.request) request.push(hooks.request);
    if (hooks.response) response.push(hooks.response);
    if (hooks.log) log.push(hooks.log);
  }
  // One object shape for every pipeline (consumers set or not): the request loop reads it per request.
  return { request, response, log, policies: instances.map((i) => i.name), consumers: undefined };
}

/** Whether a value is a Promise-like (the only case where the pipeline goes asynchronous). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
