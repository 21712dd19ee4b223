import type { GraphQLSchema } from 'graphql';
import type { GatewayConfig } from '../../config/schema.js';
import { displayPath, type ConfigSource } from '../../config/source.js';
import { closest } from '../../config/validate.js';
import { buildGraphqlSchema, placeholders, type BuildIssue } from './build.js';
import type { GraphqlConfig } from './schema.js';
import { notParams, routeParams } from '../../config/route-params.js';

/**
 * Schemas built while checking, by the `graphql:` config object they came from: the
 * handler of the same config takes it instead of building again (built once per load).
 */
const built = new WeakMap<object, GraphQLSchema>();

/** The schema the check built for this `graphql:` config, if it did. */
export function checkedSchema(cfg: GraphqlConfig): GraphQLSchema | undefined {
  return built.get(cfg);
}

/**
 * Checks of `graphql:` routes: the SDL parses and is a valid schema (errors at the SDL's
 * own line: in `schemaFile`, or inside an inline block scalar), resolver keys name fields
 * of object types, templates name arguments the field has and params the route captures,
 * upstreams exist, and keys meant for a single upstream (`rewrite`, `preserveHost`) are not set.
 *
 * @example
 *   checkGraphql(config, dirname(configFile), source); // issues land in source.issues
 */
export function checkGraphql(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const names = Object.keys(upstreams);
  const routes = Array.isArray(config.routes) ? config.routes : [];
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const g = (r as { graphql?: GraphqlConfig }).graphql;
    if (!g || typeof g !== 'object' || Array.isArray(g)) return;
    const at = (...p: (string | number)[]) => ['routes', i, ...p];
    if (r.rewrite !== undefined) source.issueAt(at('rewrite'), 'rewrite does not apply to graphql routes: each resolver has its own path');
    if (r.preserveHost === true) source.issueAt(at('preserveHost'), 'preserveHost does not apply to graphql routes');
    const params = routeParams(r.match);
    const resolvers = g.resolvers && typeof g.resolvers === 'object' ? g.resolvers : {};
    for (const [key, res] of Object.entries(resolvers)) {
      if (!res || typeof res !== 'object') continue;
      const u = res.upstream;
      if (typeof u === 'string' && !Object.hasOwn(upstreams, u)) {
        const hint = closest(u, names);
        source.issueAt(at('graphql', 'resolvers', key, 'upstream'), `unknown upstream '${u}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      if (typeof res.path === 'string' && params !== undefined) {
        const unknown = placeholders(res.path).filter((p) => p.parts[0] === 'params' && p.parts.length === 2 && !params.names.has(p.parts[1]!));
        if (unknown.length > 0) source.issueAt(at('graphql', 'resolvers', key, 'path'), notParams(unknown.map((p) => p.raw), params));
      }
      if (typeof res.timeout === 'number' && res.timeout <= 0) source.issueAt(at('graphql', 'resolvers', key, 'timeout'), 'timeout must be > 0');
      if (typeof res.maxBodySize === 'number' && res.maxBodySize <= 0) source.issueAt(at('graphql', 'resolvers', key, 'maxBodySize'), 'maxBodySize must be > 0');
    }
    if (typeof g.maxRequestSize === 'number' && g.maxRequestSize <= 0) source.issueAt(at('graphql', 'maxRequestSize'), 'maxRequestSize must be > 0');
    const result = buildGraphqlSchema(g, baseDir);
    for (const issue of result.issues) report(source, at('graphql'), issue, result.file);
    if (result.schema !== undefined) built.set(g, result.schema);
  });
}

/** Records a build issue: SDL problems at their line in the SDL file or the config file. */
function report(source: ConfigSource, base: (string | number)[], issue: BuildIssue, file: string | undefined): void {
  const path = [...base, ...issue.path];
  const severity = issue.severity ?? 'error';
  if (issue.sdlLine === undefined) return source.issueAt(path, issue.message, severity);
  if (file !== undefined) return source.error(source.displayName(file), issue.sdlLine, displayPath(path), issue.message, severity);
  const pos = source.positionOf(path);
  // `schema: |` (a block scalar): the SDL starts on the next line of the config file.
  const k = source.files.findIndex((f) => source.displayName(f) === pos.file);
  const keyLine = k >= 0 ? source.texts[k]!.split('\n', pos.line)[pos.line - 1] : undefined;
  const block = keyLine !== undefined && /:\s*[|>][0-9+-]*\s*(#.*)?$/.test(keyLine);
  source.error(pos.file, block ? pos.line + issue.sdlLine : pos.line, displayPath(path), issue.message, severity);
}

