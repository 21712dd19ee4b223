import { describe, expect, it } from 'vitest';
import { GRPC_STATUS_NAMES, grpcErrorCode } from './status.js';
import { PROBLEM_TYPE_BASE } from '../../errors.js';

describe('grpcErrorCode', () => {
  it.each([
    ['a code by its name', 5, 'GW_ERR_GRPC_NOT_FOUND'],
    ['an underscore name', 8, 'GW_ERR_GRPC_RESOURCE_EXHAUSTED'],
    ['the last code of the table', 16, 'GW_ERR_GRPC_UNAUTHENTICATED'],
    ['a code outside the table', 42, 'GW_ERR_GRPC_CODE_42'],
  ])('%s: %i → %s', (_what, code, expected) => {
    expect(grpcErrorCode(code)).toBe(expected);
  });

  it("is, by errors.ts's rule, the code of the problem type the same status gets as an answer", () => {
    // problemFor: `GW_ERR_UPSTREAM_RESET` → `…/upstream-reset`; grpcProblem: NOT_FOUND → `…/grpc-not-found`.
    const typeOf = (code: string) => PROBLEM_TYPE_BASE + code.slice(7).toLowerCase().replaceAll('_', '-');
    expect(GRPC_STATUS_NAMES.map((_n, i) => typeOf(grpcErrorCode(i)))).toEqual(GRPC_STATUS_NAMES.map((n) => `${PROBLEM_TYPE_BASE}grpc-${n.toLowerCase().replaceAll('_', '-')}`));
  });
});
