import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../store/clock.js';
import type { PolicyRegistry } from './registry.js';
import { checkHooks } from './registry.js';
import type { LogHook, PolicyHooks, RequestHook, ResponseHook } from './policy.js';

/** The hooks of one route, global policies first, in config order. Compiled once per load. */
export interface Pipeline {
  readonly request: readonly RequestHook[];
  readonly response: readonly ResponseHook[];
  readonly log: readonly LogHook[];
  /** Names of the policies, in order (explain, status). */
  readonly policies: readonly string[];
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

/** Instantiates policy entries (`[{ name: config }]`); throws with the entry's path on a bad hook. */
export async function createPolicies(
  entries: readonly Record<string, unknown>[],
  routeName: string | undefined,
  deps: BuildPolicyDeps,
): Promise<PolicyInstance[]> {
  const out: PolicyInstance[] = [];
  for (const entry of entries) {
    const name = Object.keys(entry)[0]!;
    const def = deps.registry.get(name);
    if (!def) throw new Error(`unknown policy '${name}'`);
    const hooks = await def.create(entry[name] as never, {
      logger: deps.logger.child({ policy: name, ...(routeName ? { route: routeName } : {}) }),
      config: deps.config,
      routeName,
      baseDir: deps.baseDir,
      store: deps.store,
      clock: deps.clock,
    });
    const problem = checkHooks(name, hooks);
    if (problem) throw new Error(problem);
    out.push({ name, hooks });
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
  return { request, response, log, policies: instances.map((i) => i.name) };
}

/** Whether a value is a Promise-like (the only case where the pipeline goes asynchronous). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
