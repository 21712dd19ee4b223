import type { RouteConfig } from '../config/schema.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Handler } from '../handlers/handler.js';
import {
  compileExtraMatch,
  compilePathPattern,
  compilePathRegex,
  pathPatternOf,
  parseHostPattern,
  specificity,
  type ExtraMatch,
  type HostPattern,
} from './matchers.js';
import { routeVersion } from './version.js';

/** A route with everything decided at load: matchers, pipeline, target. */
export interface CompiledRoute {
  readonly name: string;
  /** Declaration order, the last tie-breaker. */
  readonly index: number;
  readonly config: RouteConfig;
  readonly priority: number;
  readonly specificity: number;
  /** find-my-way pattern, or undefined for a `pathRegex` route. */
  readonly pattern: string | undefined;
  readonly paramNames: readonly string[];
  readonly matchPath: (path: string) => Record<string, string> | null;
  readonly methods: ReadonlySet<string> | null;
  readonly hosts: readonly HostPattern[] | null;
  readonly extra: ExtraMatch | null;
  /** The API version the route serves (`match.version`), for logs; undefined when unversioned. */
  readonly apiVersion: string | undefined;
  /** Listener names serving the route, or null for all. */
  readonly listeners: readonly string[] | null;
  readonly pipeline: Pipeline;
  readonly handler: Handler;
}

/** Compiles the match part of a route. */
export function compileRouteMatch(config: RouteConfig, index: number): Omit<CompiledRoute, 'pipeline' | 'handler'> {
  const m = config.match;
  const pattern = pathPatternOf(m);
  const matchPath = pattern !== undefined ? compilePathPattern(pattern) : compilePathRegex(m.pathRegex!);
  let methods: Set<string> | null = null;
  if (m.methods) {
    methods = new Set(m.methods);
    // A GET route answers HEAD too (RFC 9110 §9.3.2), unless HEAD is routed elsewhere explicitly.
    if (methods.has('GET')) methods.add('HEAD');
  }
  return {
    name: config.name,
    index,
    config,
    priority: config.priority ?? 0,
    specificity: specificity(pattern, pattern === undefined),
    pattern,
    paramNames: pattern ? (pattern.match(/:[A-Za-z0-9_]+/g) ?? []).map((s) => s.slice(1)) : [],
    matchPath,
    methods,
    hosts: m.host ? (m.host as string[]).map(parseHostPattern) : null,
    extra: compileExtraMatch(m),
    apiVersion: routeVersion(m.version),
    listeners: config.listeners ?? null,
  };
}
