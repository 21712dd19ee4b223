import type { Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayConfig, RouteConfig } from '../config/schema.js';
import type { Upstream } from '../upstreams/upstream.js';
import type { ForwardingOptions } from '../proxy/headers.js';
import type { Store } from '../store/store.js';

/**
 * A route's target: what runs after the request phase. It answers through
 * `pipeline/respond.ts` so the response phase applies whatever the target is.
 */
export interface Handler {
  /** Short name for explain/status output, e.g. `upstream catalog`. */
  readonly description: string;
  handle(ctx: RequestContext): void;
  /** Releases what the handler holds open (e.g. gRPC channels) when its config version retires. */
  close?(): void;
  /**
   * More endpoints this target serves besides the route's own match, each with the route's
   * policies (e.g. `async:`'s job status at `<jobsPath>/:id`).
   */
  readonly routes?: readonly ExtraEndpoint[];
}

/** See Handler.routes: a match replacing the route's, and the handler serving it. */
export interface ExtraEndpoint {
  match: RouteConfig['match'];
  handler: Handler;
}

/** What a handler factory may use at build time. */
export interface HandlerDeps {
  config: GatewayConfig;
  upstreams: ReadonlyMap<string, Upstream>;
  forwarding: ForwardingOptions;
  logger: Logger;
  baseDir: string;
  /** The config's store (async jobs). */
  store: Store;
}

/** Builds the handler for a route whose config has this handler's key. */
export type HandlerFactory = (route: RouteConfig, deps: HandlerDeps) => Handler;
