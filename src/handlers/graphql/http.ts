import { Buffer } from 'node:buffer';
import type { RequestContext } from '../../pipeline/context.js';
import { respondReply } from '../../pipeline/respond.js';
import type { HeaderList } from '../../http/headers.js';

/** The two response media types of GraphQL over HTTP (§ "Body"). */
export const JSON_TYPE = 'application/json; charset=utf-8';
export const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json; charset=utf-8';

/** The parameters of a GraphQL request (GraphQL over HTTP § "Request Parameters"). */
export interface GraphqlParams {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
}

/** A request that is not a well-formed GraphQL-over-HTTP request: its status and message. */
export class HttpProblem {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly headers: HeaderList = [],
  ) {}
}

/**
 * The response media type the client accepts: `application/graphql-response+json` when
 * listed, else `application/json` (also for no `Accept`, `*\/*` and `application/*`, which
 * legacy clients send); undefined when it accepts neither (→ 406). Parameters and q-values
 * other than `q=0` are not weighed: either type carries the same body.
 *
 * @example
 *   responseType('application/graphql-response+json, application/json;q=0.9') // GRAPHQL_RESPONSE_TYPE
 */
export function responseType(accept: string | undefined): string | undefined {
  if (accept === undefined || accept.trim() === '') return JSON_TYPE;
  let json = false;
  for (const item of accept.split(',')) {
    const [range, ...params] = item.split(';').map((s) => s.trim().toLowerCase());
    if (params.some((p) => /^q=0(\.0*)?$/.test(p.replace(/\s/g, '')))) continue;
    if (range === 'application/graphql-response+json') return GRAPHQL_RESPONSE_TYPE;
    if (range === 'application/json' || range === 'application/*' || range === '*/*') json = true;
  }
  return json ? JSON_TYPE : undefined;
}

/** Parameters of a GET request, from its query string (`query`, `variables` as JSON, `operationName`). */
export function paramsFromQuery(query: string): GraphqlParams | HttpProblem {
  const sp = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const q = sp.get('query');
  if (q === null || q === '') return new HttpProblem(400, 'a GraphQL GET request needs the query parameter `query`');
  let variables: unknown;
  const raw = sp.get('variables');
  if (raw !== null && raw !== '') {
    try {
      variables = JSON.parse(raw);
    } catch {
      return new HttpProblem(400, 'the `variables` query parameter is not JSON');
    }
  }
  return checkParams({ query: q, variables, operationName: sp.get('operationName') ?? undefined, extensions: parseLoose(sp.get('extensions')) });
}

/** Parameters of a POST request body (an `application/json` object). */
export function paramsFromBody(contentType: string | undefined, body: Buffer): GraphqlParams | HttpProblem {
  if (contentType === undefined) return new HttpProblem(415, 'a GraphQL POST request needs Content-Type: application/json', ['accept-post', 'application/json']);
  const [type, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json') return new HttpProblem(415, `unsupported Content-Type '${type}': send application/json`, ['accept-post', 'application/json']);
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8') return new HttpProblem(415, `unsupported charset '${charset}': send utf-8`, ['accept-post', 'application/json']);
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return new HttpProblem(400, 'the request body is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return new HttpProblem(400, 'the request body must be a JSON object with a `query` string (batched requests are not supported)');
  const o = v as Record<string, unknown>;
  return checkParams({ query: o.query, variables: o.variables, operationName: o.operationName, extensions: o.extensions });
}

function parseLoose(raw: string | null): unknown {
  if (raw === null || raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return 'invalid';
  }
}

function checkParams(p: { query: unknown; variables: unknown; operationName: unknown; extensions: unknown }): GraphqlParams | HttpProblem {
  if (typeof p.query !== 'string' || p.query === '') return new HttpProblem(400, '`query` must be a non-empty string');
  if (p.variables !== undefined && p.variables !== null && (typeof p.variables !== 'object' || Array.isArray(p.variables))) return new HttpProblem(400, '`variables` must be an object');
  if (p.operationName !== undefined && p.operationName !== null && typeof p.operationName !== 'string') return new HttpProblem(400, '`operationName` must be a string');
  if (p.extensions !== undefined && p.extensions !== null && (typeof p.extensions !== 'object' || Array.isArray(p.extensions))) return new HttpProblem(400, '`extensions` must be an object');
  return {
    query: p.query,
    variables: (p.variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: typeof p.operationName === 'string' ? p.operationName : undefined,
  };
}

/**
 * Sends a GraphQL response body (`{ errors?, data? }`) with the negotiated type. `Vary:
 * Accept` since the type follows the request's `Accept`.
 */
export function respondGraphql(ctx: RequestContext, status: number, type: string, result: unknown, extra: HeaderList = []): void {
  const body = Buffer.from(JSON.stringify(result));
  respondReply(ctx, { status, headers: ['content-type', type, 'content-length', String(body.length), 'vary', 'accept', ...extra], body });
}

/** A request error (no `data`): `{ "errors": [{ "message", "extensions": { "code" } }] }`. */
export function respondRequestError(ctx: RequestContext, status: number, type: string, message: string, code: string, extra: HeaderList = []): void {
  respondGraphql(ctx, status, type, { errors: [{ message, extensions: { code } }] }, extra);
}
