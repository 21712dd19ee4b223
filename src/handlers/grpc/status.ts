import { Buffer } from 'node:buffer';
import type { RequestContext } from '../../pipeline/context.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from '../../errors.js';
import type { HeaderList } from '../../http/headers.js';

/** gRPC status names by code (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/**
 * HTTP status by gRPC code: the google.rpc.Code mapping grpc-gateway applies
 * (runtime.HTTPStatusFromCode; google/rpc/code.proto documents each). CANCELLED is 499,
 * "client closed request", as there.
 */
const HTTP_BY_CODE = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401] as const;

/**
 * The HTTP status of a gRPC code; 500 for codes outside the table.
 *
 * @example
 *   httpStatusOf(5); // 404 (NOT_FOUND)
 */
export function httpStatusOf(code: number): number {
  return HTTP_BY_CODE[code] ?? 500;
}

/** `NOT_FOUND` for 5; `CODE_<n>` for codes outside the table. */
export function grpcStatusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? `CODE_${code}`;
}

/**
 * Access-log error codes per gRPC code, built once: `GW_ERR_GRPC_NOT_FOUND`. They name a
 * status the backend sent where no HTTP status can carry it (after a stream's head). By
 * errors.ts's rule (`GW_ERR_UPSTREAM_RESET` ↔ `…/problems/upstream-reset`), each is the code
 * of the problem type the same status gets as an answer (`…/problems/grpc-not-found`).
 */
const ERROR_CODES = GRPC_STATUS_NAMES.map((n) => `GW_ERR_GRPC_${n}`);

/**
 * The access-log error code of a gRPC status the backend sent: `GW_ERR_GRPC_` and its name
 * (`GW_ERR_GRPC_CODE_<n>` for codes outside the table).
 *
 * @example
 *   grpcErrorCode(8); // 'GW_ERR_GRPC_RESOURCE_EXHAUSTED'
 */
export function grpcErrorCode(code: number): string {
  return ERROR_CODES[code] ?? `GW_ERR_GRPC_${grpcStatusName(code)}`;
}

/** Problem type URIs per code, built once: `…/problems/grpc-not-found`. */
const TYPES = GRPC_STATUS_NAMES.map((n) => `${PROBLEM_TYPE_BASE}grpc-${n.toLowerCase().replaceAll('_', '-')}`);

/**
 * A gRPC status from the backend as problem+json (RFC 9457): the mapped HTTP status, the
 * backend's message as `detail`, and `grpcCode` / `grpcStatus` extension members.
 *
 * @example
 *   grpcProblem(ctx, 5, 'user 42 not found') // { status: 404, headers, body: {"type":".../grpc-not-found",…} }
 */
export function grpcProblem(ctx: RequestContext, code: number, message: string): { status: number; headers: HeaderList; body: Buffer } {
  const status = httpStatusOf(code);
  const name = grpcStatusName(code);
  const problem = {
    type: TYPES[code] ?? `${PROBLEM_TYPE_BASE}grpc-unknown`,
    title: `gRPC status ${name}`,
    status,
    detail: message,
    grpcCode: code,
    grpcStatus: name,
    instance: ctx.path,
    requestId: ctx.id,
  };
  return { status, headers: ['content-type', PROBLEM_CONTENT_TYPE, 'cache-control', 'no-store'], body: Buffer.from(JSON.stringify(problem)) };
}
