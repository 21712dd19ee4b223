import type { Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayConfig, RouteConfig } from '../config/schema.js';
import type { Upstream } from '../upstreams/upstream.js';
import type { ForwardingOptions } from '../proxy/headers.js';

/**
 * A route's target: what runs after the request phase. It answers through
 * `pipeline/respond.ts` so the response phase applies whatever the target is.
 */
export interface Handler {
  /** Short name for explain/status output, e.g. `upstream catalog`. */
  readonly description: string;
  handle(ctx: RequestContext): void;
}

/** What a handler factory may use at build time. */
export interface HandlerDeps {
  config: GatewayConfig;
  upstreams: ReadonlyMap<string, Upstream>;
  forwarding: ForwardingOptions;
  logger: Logger;
  baseDir: string;
}

/** Builds the handler for a route whose config has this handler's key. */
export type HandlerFactory = (route: RouteConfig, deps: HandlerDeps) => Handler;
