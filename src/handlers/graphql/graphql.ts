import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  defaultFieldResolver,
  execute,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLFieldResolver,
  type GraphQLObjectType,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import { readRequestBody } from '../../pipeline/body.js';
import { GatewayError } from '../../errors.js';
import { logGate } from '../../observability/logger.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { buildGraphqlSchema, resolverField } from './build.js';
import { compileFieldCall, RequestCalls, type FieldCall } from './calls.js';
import { HttpProblem, paramsFromBody, paramsFromQuery, respondGraphql, respondRequestError, responseType, JSON_TYPE, type GraphqlParams } from './http.js';
import { checkShape, type ShapeLimits } from './limits.js';
import type { GraphqlConfig } from './schema.js';
import { checkedSchema } from './semantics.js';

/** Parsed and validated documents kept per route, by query text (clients repeat the same few). */
const DOCUMENT_CACHE_SIZE = 128;
/** Query texts longer than this are parsed every time rather than kept. */
const CACHEABLE_QUERY = 4096;

/** A query text, parsed and validated against the schema once. */
interface Prepared {
  document: DocumentNode | undefined;
  fragments: Map<string, FragmentDefinitionNode>;
  /** Parse or validation errors (then `document` is not to be executed). */
  errors: readonly GraphQLError[] | undefined;
  code: 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED' | undefined;
}

/** Field failures log at most once a second per route and field. */
const failureLogGate = logGate(1000);

/**
 * `graphql:`: a GraphQL API over REST upstreams, served over HTTP (GraphQL over HTTP: GET
 * with `?query=`, POST with `application/json`). The schema is built once at load; each
 * resolver is an upstream call compiled like an `aggregate:` part (balancer, breaker,
 * retries, pool, metrics), its path filled from the field's arguments, its parent's JSON
 * or the route params. Fields without a resolver read the property of their name from the
 * parent's JSON. Identical GET calls of one request are made once; the client going away
 * cancels the calls in flight. Depth, field and alias limits are checked before any call.
 *
 * @example
 *   graphql:
 *     schema: "type Query { product(id: ID!): Product } type Product { id: ID!, name: String }"
 *     resolvers:
 *       Query.product: { upstream: catalog, path: "/products/{args.id}" }
 */
export function createGraphqlHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const cfg = (route as { graphql?: GraphqlConfig }).graphql!;
  const schema = checkedSchema(cfg) ?? buildOrThrow(route, cfg, deps);
  const calls = new Map<GraphQLObjectType, Record<string, FieldCall>>();
  for (const [key, r] of Object.entries(cfg.resolvers ?? {})) {
    const found = resolverField(schema, key)!;
    const byField = calls.get(found.type) ?? {};
    byField[found.field.name] = compileFieldCall(route, key, r, deps);
    calls.set(found.type, byField);
  }
  const rules: readonly ValidationRule[] = cfg.introspection === true ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];
  const limits: ShapeLimits = { maxDepth: cfg.maxDepth ?? 10, maxFields: cfg.maxFields ?? 500, maxAliases: cfg.maxAliases ?? 30 };
  const maxTokens = cfg.maxTokens ?? 10_000;
  const maxRequest = cfg.maxRequestSize ?? 65_536;
  const cache = new LRUCache<string, Prepared>({ max: DOCUMENT_CACHE_SIZE });

  const prepare = (query: string): Prepared => {
    const hit = cache.get(query);
    if (hit !== undefined) return hit;
    const prepared = prepareDocument(schema, query, rules, maxTokens);
    if (query.length <= CACHEABLE_QUERY) cache.set(query, prepared);
    return prepared;
  };

  const fieldResolver: GraphQLFieldResolver<unknown, RequestCalls> = (source, args, context, info) => {
    const call = calls.get(info.parentType)?.[info.fieldName];
    if (call === undefined) return defaultFieldResolver(source, args, context, info);
    return context.resolve(call, source, args).catch((e: GraphQLError) => {
      logFailure(context, route, call, e);
      throw e;
    });
  };

  const run = (ctx: RequestContext, type: string, params: GraphqlParams, isGet: boolean): void => {
    const prepared = prepare(params.query);
    if (prepared.errors !== undefined) return respondGraphql(ctx, 400, type, { errors: prepared.errors.map((e) => withCode(e, prepared.code!)) });
    const document = prepared.document!;
    const op = getOperationAST(document, params.operationName);
    if (op === null || op === undefined) {
      const message = params.operationName !== undefined ? `unknown operation '${params.operationName}'` : 'the document holds several operations: name one with operationName';
      return respondRequestError(ctx, 400, type, message, 'BAD_REQUEST');
    }
    // GraphQL over HTTP § GET: a mutation is not executed over GET (a safe method, RFC 9110 §9.2.1).
    if (isGet && op.operation !== 'query') return respondRequestError(ctx, 405, type, `a ${op.operation} is only accepted over POST`, 'BAD_REQUEST', ['allow', 'POST']);
    const over = checkShape(op, prepared.fragments, limits);
    if (over !== undefined) return respondRequestError(ctx, 400, type, `the operation exceeds ${over.limit} (${over.max})`, 'GRAPHQL_LIMIT_EXCEEDED');
    const requestCalls = new RequestCalls(ctx);
    ctx.cancelable = { cancel: () => requestCalls.cancel() };
    const finish = (result: ExecutionResult) => {
      if (ctx.aborted) return;
      // Variable coercion failed: a request error, no `data` (GraphQL spec §6.1, §7.1.2).
      if (!('data' in result)) return respondGraphql(ctx, 400, type, { errors: (result.errors ?? []).map((e) => withCode(e, 'BAD_USER_INPUT')) });
      respondGraphql(ctx, 200, type, result);
    };
    let out;
    try {
      out = execute({ schema, document, operationName: params.operationName, variableValues: params.variables, contextValue: requestCalls, fieldResolver });
    } catch (e) {
      return respondRequestError(ctx, 400, type, (e as Error).message, 'BAD_REQUEST');
    }
    if (out instanceof Promise) {
      out.then(finish, (e: Error) => {
        if (!ctx.aborted) respondRequestError(ctx, 500, type, 'the operation failed', 'INTERNAL');
        ctx.logger.error({ err: e, requestId: ctx.id, route: route.name }, 'graphql execution failed');
      });
    } else finish(out);
  };

  const handle = function graphql(ctx: RequestContext): void {
    const type = responseType(ctx.req.headers.accept);
    if (type === undefined) {
      return respondRequestError(ctx, 406, JSON_TYPE, 'this endpoint answers application/graphql-response+json or application/json', 'NOT_ACCEPTABLE');
    }
    const problem = (p: HttpProblem) => respondRequestError(ctx, p.status, type, p.message, p.status === 413 ? 'REQUEST_TOO_LARGE' : 'BAD_REQUEST', p.headers);
    if (ctx.method === 'GET') {
      const params = paramsFromQuery(ctx.query);
      return params instanceof HttpProblem ? problem(params) : run(ctx, type, params, true);
    }
    if (ctx.method !== 'POST') return problem(new HttpProblem(405, `method ${ctx.method} is not allowed: use GET or POST`, ['allow', 'GET, POST']));
    readRequestBody(ctx, maxRequest).then(
      (body) => {
        if (ctx.aborted) return;
        const params = paramsFromBody(ctx.req.headers['content-type'], body);
        if (params instanceof HttpProblem) return problem(params);
        run(ctx, type, params, false);
      },
      (e: Error) => {
        if (ctx.aborted) return;
        if (e instanceof GatewayError) return problem(new HttpProblem(e.status, e.message));
        // The client stopped sending the body: nobody is left to answer.
      },
    );
  };

  return { description: `graphql ${[...calls.values()].reduce((n, f) => n + Object.keys(f).length, 0)} resolvers`, handle };
}

/** Parses (bounded by `maxTokens`) and validates a query text. */
function prepareDocument(schema: GraphQLSchema, query: string, rules: readonly ValidationRule[], maxTokens: number): Prepared {
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens, noLocation: false });
  } catch (e) {
    return { document: undefined, fragments: new Map(), errors: [e as GraphQLError], code: 'GRAPHQL_PARSE_FAILED' };
  }
  const errors = validate(schema, document, rules, { maxErrors: 20 });
  if (errors.length > 0) return { document: undefined, fragments: new Map(), errors, code: 'GRAPHQL_VALIDATION_FAILED' };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  return { document, fragments, errors: undefined, code: undefined };
}

function withCode(e: GraphQLError, code: string): unknown {
  const json = e.toJSON();
  return { ...json, extensions: { ...json.extensions, code } };
}

/** A handler built without the load-time check (a route built in code): build here, fail loudly. */
function buildOrThrow(route: RouteConfig, cfg: GraphqlConfig, deps: HandlerDeps): GraphQLSchema {
  const built = buildGraphqlSchema(cfg, deps.baseDir);
  const errors = built.issues.filter((i) => i.severity !== 'warning');
  if (built.schema === undefined || errors.length > 0) throw new Error(`route '${route.name}': graphql: ${errors.map((i) => i.message).join('; ')}`);
  return built.schema;
}

function logFailure(calls: RequestCalls, route: RouteConfig, call: FieldCall, e: GraphQLError): void {
  const ctx = calls.ctx;
  if (ctx.aborted) return;
  const suppressed = failureLogGate(`${route.name}|${call.key}`);
  if (suppressed < 0) return;
  ctx.logger.warn({ requestId: ctx.id, route: route.name, field: call.key, upstream: call.upstream, code: e.extensions.code, detail: e.message, suppressed }, 'graphql field failed');
}
