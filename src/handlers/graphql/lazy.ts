import type { GatewayConfig, RouteConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import type { Handler, HandlerDeps } from '../handler.js';

/** The handler module, once a config with a graphql route has been loaded. */
let impl: typeof import('./graphql.js') | undefined;

/**
 * Loads graphql-js and the handler only for a config that has a `graphql:` route, then
 * runs its config checks. graphql-js takes about 300 ms to import: a gateway without
 * GraphQL routes (and every `gantry` CLI run on such a config) does not pay for it.
 *
 * @example
 *   await prepareGraphql(config, baseDir, source); // in loadConfig, before building runtimes
 */
export async function prepareGraphql(config: GatewayConfig, baseDir: string, source: ConfigSource): Promise<void> {
  const routes = Array.isArray(config.routes) ? config.routes : [];
  if (!routes.some((r) => r !== null && typeof r === 'object' && r.graphql !== undefined)) return;
  const [semantics, handler] = await Promise.all([import('./semantics.js'), import('./graphql.js')]);
  impl = handler;
  semantics.checkGraphql(config, baseDir, source);
}

/** Route target `graphql:` (see graphql.ts); its module is loaded by `prepareGraphql` at config load. */
export function createGraphqlHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  if (impl === undefined) throw new Error(`route '${route.name}': graphql is not loaded (configs with graphql routes go through loadConfig)`);
  return impl.createGraphqlHandler(route, deps);
}
