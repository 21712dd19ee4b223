/**
 * Gantry's public API: write policies in TypeScript and embed the gateway.
 *
 * @example
 *   import { definePolicy, Type } from 'gantry';
 */
export { Type, type Static, type TSchema } from '@sinclair/typebox';
export { definePolicy } from './pipeline/policy.js';
export type { PolicyDefinition, PolicyDeps, PolicyHooks, Reply, ResponseHead, RequestHook, ResponseHook, LogHook, RequestResult } from './pipeline/policy.js';
export { RequestContext, type Consumer, type BodyWrapper } from './pipeline/context.js';
export { PHASES, type Phase } from './pipeline/phases.js';
export { compileTemplate, type Template } from './pipeline/template.js';
export { getHeader, setHeader, removeHeader, appendHeader, type HeaderList } from './http/headers.js';
export { Duration, Size, Cidr, HttpUrl, RegexSource, OneOrMany } from './config/types.js';
export { GatewayError, GatewayErrors, type GatewayErrorCode } from './errors.js';
export { Gateway, ConfigError, type GatewayOptions, type ReloadResult } from './gateway.js';
export { loadConfig, type LoadedConfig, type LoadResult } from './config/load.js';
export { formatIssue, type ConfigIssue } from './config/source.js';
export type { GatewayConfig, RouteConfig, UpstreamConfig } from './config/schema.js';
export type { Store, LimitSpec, Decision, Grant, CounterResult, Algorithm, Awaitable } from './store/store.js';
export { StoreUnavailableError } from './store/store.js';
export { MemoryStore } from './store/memory.js';
export type { RedisStore } from './store/redis.js';
export { createStore } from './store/index.js';
export { systemClock, manualClock, type Clock, type ManualClock } from './store/clock.js';
