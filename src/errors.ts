/**
 * Errors the gateway itself produces, as data: a code, an HTTP status and a title.
 * Responses are `application/problem+json` (RFC 9457) carrying the request's id.
 */
export const GatewayErrors = {
  GW_ERR_NOT_FOUND: { status: 404, title: 'No route matches this request' },
  GW_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route' },
  GW_ERR_BAD_REQUEST: { status: 400, title: 'Bad request' },
  GW_ERR_VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  GW_ERR_WEBSOCKET_NOT_ROUTED: { status: 404, title: 'No WebSocket route matches this request' },
  GW_ERR_URI_TOO_LONG: { status: 414, title: 'Request URI too long' },
  GW_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  GW_ERR_EXPECTATION_FAILED: { status: 417, title: 'Expectation not supported' },
  GW_ERR_HTTP_VERSION_NOT_SUPPORTED: { status: 505, title: 'HTTP version not supported' },
  GW_ERR_NOT_IMPLEMENTED: { status: 501, title: 'Method not implemented by this gateway' },
  GW_ERR_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  GW_ERR_GONE: { status: 410, title: 'This API version has been retired' },
  GW_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request timeout' },
  GW_ERR_UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable' },
  GW_ERR_UPSTREAM_RESET: { status: 502, title: 'Upstream connection reset' },
  GW_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Invalid upstream response' },
  GW_ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timeout' },
  GW_ERR_AGGREGATE_PART_FAILED: { status: 502, title: 'Aggregate part failed' },
  GW_ERR_AGGREGATE_PART_TIMEOUT: { status: 504, title: 'Aggregate part timed out' },
  GW_ERR_NO_TARGET: { status: 503, title: 'No upstream target available' },
  GW_ERR_CIRCUIT_OPEN: { status: 503, title: 'Upstream circuit breaker open' },
  GW_ERR_OVERLOADED: { status: 503, title: 'Upstream at its concurrency limit' },
  GW_ERR_DEADLINE_EXCEEDED: { status: 504, title: 'Request latency budget exhausted' },
  GW_ERR_SHUTTING_DOWN: { status: 503, title: 'Gateway is shutting down' },
  GW_ERR_UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  GW_ERR_FORBIDDEN: { status: 403, title: 'Forbidden' },
  GW_ERR_IP_FORBIDDEN: { status: 403, title: 'Client address not allowed' },
  GW_ERR_CORS_REJECTED: { status: 403, title: 'CORS preflight refused' },
  GW_ERR_AUTH_UNAVAILABLE: { status: 503, title: 'Authentication or authorization service unavailable' },
  GW_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  GW_ERR_QUOTA_EXCEEDED: { status: 429, title: 'Quota exceeded' },
  GW_ERR_CONCURRENCY_LIMITED: { status: 429, title: 'Too many requests in flight' },
  GW_ERR_LIMIT_UNAVAILABLE: { status: 503, title: 'Limit store unavailable' },
  GW_ERR_STORE_UNAVAILABLE: { status: 503, title: 'Shared store unavailable' },
  GW_ERR_TENANT_REQUIRED: { status: 400, title: 'Tenant required' },
  GW_ERR_TENANT_UNKNOWN: { status: 403, title: 'Unknown tenant' },
  GW_ERR_CACHE_ZONE_UNKNOWN: { status: 404, title: 'Unknown cache zone' },
  GW_ERR_JOB_QUEUE_FULL: { status: 503, title: 'Too many pending jobs' },
  GW_ERR_JOB_NOT_FOUND: { status: 404, title: 'No such job' },
  GW_ERR_JOB_NOT_DONE: { status: 409, title: 'Job not finished' },
  GW_ERR_JOB_RESULT_TOO_LARGE: { status: 502, title: 'Job result too large' },
  GW_ERR_BATCH_INVALID: { status: 400, title: 'Invalid batch request' },
  GW_ERR_BATCH_NESTED: { status: 400, title: 'Batch requests cannot be nested' },
  GW_ERR_BATCH_RESPONSE_TOO_LARGE: { status: 502, title: 'Batch sub-response too large' },
  GW_ERR_POLICY_FAILED: { status: 500, title: 'A policy failed' },
  GW_ERR_INTERNAL: { status: 500, title: 'Internal gateway error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type GatewayErrorCode = keyof typeof GatewayErrors;

/** The base of every problem `type` URI the gateway emits. */
export const PROBLEM_TYPE_BASE = 'https://gantry.dev/problems/';

/** Thrown (or returned) inside the gateway for an error that becomes a problem response. */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  constructor(code: GatewayErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? GatewayErrors[code].title, options);
    this.name = 'GatewayError';
    this.code = code;
    this.status = GatewayErrors[code].status;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extension: string]: unknown;
}

/** Builds a problem object for a coded gateway error. */
export function problemFor(code: GatewayErrorCode, detail?: string, requestId?: string): Problem {
  const e = GatewayErrors[code];
  const p: Problem = {
    type: PROBLEM_TYPE_BASE + code.slice(7).toLowerCase().replaceAll('_', '-'),
    title: e.title,
    status: e.status,
  };
  if (detail !== undefined) p.detail = detail;
  if (requestId !== undefined) p.requestId = requestId;
  return p;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
