import { Buffer } from 'node:buffer';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { HeaderList } from '../http/headers.js';
import type { RequestContext } from './context.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../store/clock.js';

/**
 * A response a request hook produces instead of calling the target (401, 429, a cached 200 …).
 * `body` objects are sent as JSON.
 */
export interface Reply {
  status: number;
  headers?: Record<string, string> | HeaderList;
  body?: string | Buffer | object | null;
}

/** The response head as the response phase sees it; hooks may change both fields. */
export interface ResponseHead {
  status: number;
  /** Flat `[name, value, …]` list; use the helpers in `http/headers`. */
  headers: HeaderList;
}

/** What a request hook returns: nothing to continue, a `Reply` to answer now. */
export type RequestResult = void | undefined | Reply;

export type RequestHook = (ctx: RequestContext) => RequestResult | Promise<RequestResult>;
export type ResponseHook = (ctx: RequestContext, head: ResponseHead) => void | Promise<void>;
export type LogHook = (ctx: RequestContext) => void;

/**
 * What a policy factory returns: one function per phase it takes part in, all optional.
 * Keep hooks synchronous when they have nothing asynchronous to do: the pipeline only
 * pays for a Promise when a hook returns one.
 */
export interface PolicyHooks {
  request?: RequestHook;
  response?: ResponseHook;
  log?: LogHook;
  /** Releases what `create` acquired (timers, sockets) when the config is replaced. */
  close?: () => void | Promise<void>;
}

/** What a policy factory may use while it builds itself. */
export interface PolicyDeps {
  /** Logger bound to this policy and route. */
  logger: Logger;
  /** The whole validated config (consumers, upstreams, …). */
  config: GatewayConfig;
  /** Name of the route this instance serves, or undefined for a global policy. */
  routeName: string | undefined;
  /** Absolute directory of the config file, for resolving relative paths. */
  baseDir: string;
  /** The config's `store:` (memory or Redis): shared state for limits, cache, jobs. */
  store: Store;
  /** Wall clock (injectable in tests). */
  clock: Clock;
}

/**
 * A policy: a config schema plus a factory compiled once per config load.
 *
 * @example
 *   import { definePolicy, Type } from 'gantry';
 *   export default definePolicy({
 *     name: 'add-tenant',
 *     description: 'Sends the tenant upstream.',
 *     schema: Type.Object({ header: Type.String({ default: 'x-tenant', description: 'Header to set' }) }),
 *     create(config) {
 *       return { request: function addTenant(ctx) { ctx.setRequestHeader(config.header, ctx.tenant ?? '-'); } };
 *     },
 *   });
 */
export interface PolicyDefinition<S extends TSchema = TSchema> {
  /** The key used in config (`policies: [ { <name>: {…} } ]`), kebab-case. */
  name: string;
  description: string;
  /** TypeBox schema of the policy's config: its type, validator and docs in one. */
  schema: S;
  create(config: Static<S>, deps: PolicyDeps): PolicyHooks | Promise<PolicyHooks>;
}

/** Declares a policy with a typed config. Identity at runtime; the types do the work. */
export function definePolicy<S extends TSchema>(definition: PolicyDefinition<S>): PolicyDefinition<S> {
  return definition;
}
