import { describe, expect, it } from 'vitest';
import { ACCESS_LOG_FIELDS, type AccessLogField } from '../config/ops-schema.js';
import type { RequestContext } from '../pipeline/context.js';
import { compileLine, type LineSource } from './access-log-line.js';

const BINDINGS = ',"service":"gantry","msg":"request"';

/** A finished request with every field the line can carry; `over` replaces some. */
function request(over: Record<string, unknown> = {}): RequestContext {
  return {
    id: 'req-1',
    method: 'GET',
    path: '/p',
    query: '?a=1',
    route: { name: 'r', apiVersion: 'v2' },
    status: 200,
    target: 'http://127.0.0.1:1',
    upstreamMs: 1.23456,
    elapsed: () => 2.5,
    bytesOut: 10,
    clientIp: '127.0.0.1',
    listener: { name: 'public' },
    req: { httpVersion: '1.1' },
    consumer: { id: 'acme', tenant: 't1' },
    tenant: undefined,
    errorCode: 'GW_ERR_X',
    trace: { traceId: 'abc' },
    header: (name: string) => (name === 'user-agent' ? 'ua/1' : undefined),
    aborted: false,
    ...over,
  } as unknown as RequestContext;
}

const source: LineSource = {
  headersOf: () => ({ accept: '*/*' }),
  queryOf: (c) => (c.query === '' ? undefined : c.query),
};
const none: LineSource = { headersOf: () => undefined, queryOf: () => undefined };

/** The fields as JSON.parse should read them back, in order (absent ones left out). */
function expected(c: RequestContext, fields: readonly AccessLogField[], w: LineSource, bytesIn: number): [string, unknown][] {
  const r = c as unknown as Record<string, any>;
  const value: Record<AccessLogField, unknown> = {
    requestId: r.id,
    method: r.method,
    path: r.path,
    query: w.queryOf(c),
    route: r.route?.name ?? null,
    status: r.status,
    target: r.target || null,
    upstreamMs: r.upstreamMs < 0 ? null : Math.round(r.upstreamMs * 100) / 100,
    totalMs: Math.round(r.elapsed() * 100) / 100,
    bytesIn,
    bytesOut: r.bytesOut,
    clientIp: r.clientIp,
    listener: r.listener.name,
    consumer: r.consumer ? r.consumer.id : undefined,
    tenant: (r.tenant ?? r.consumer?.tenant) || undefined,
    apiVersion: r.route?.apiVersion,
    error: r.errorCode || undefined,
    traceId: r.trace?.traceId || undefined,
    userAgent: r.header('user-agent'),
    headers: w.headersOf(c),
    httpVersion: r.req.httpVersion,
  };
  // JSON has no NaN or Infinity: the line writes null.
  const json = (v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v);
  const out: [string, unknown][] = fields.filter((f) => value[f] !== undefined).map((f) => [f, json(value[f])]);
  if (r.aborted) out.push(['aborted', true]);
  return out;
}

function check(c: RequestContext, fields: readonly AccessLogField[], w = source, bytesIn = 7): void {
  const text = compileLine(fields, BINDINGS)(c, bytesIn, w);
  expect(text.endsWith('}\n')).toBe(true);
  expect(text.indexOf('\n')).toBe(text.length - 1);
  expect(text).toMatch(/^[\x20-\x7e]*\n$/); // ASCII only: non-ASCII is escaped
  const line = JSON.parse(text) as Record<string, unknown>;
  const entries = Object.entries(line);
  expect(entries.slice(0, 4).map(([k]) => k)).toEqual(['level', 'time', 'service', 'msg']);
  expect(line.level).toBe('info');
  expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
  expect(entries.slice(4)).toEqual(expected(c, fields, w, bytesIn));
}

const ALL = [...ACCESS_LOG_FIELDS];
const ODD = 'a"b\\c\u2028d\u0001é\u{1F600}';

describe('compiled access-log line', () => {
  it.each([
    ['every field, plain values', request()],
    ['an id that needs escaping', request({ id: ODD })],
    ['a path that needs escaping', request({ path: `/x/${ODD}` })],
    ['a client address that needs escaping', request({ clientIp: ODD })],
    ['optional values that need escaping', request({ consumer: { id: ODD }, tenant: ODD, errorCode: ODD, trace: { traceId: ODD }, header: () => ODD, query: `?q=${ODD}` })],
    ['optional values absent', request({ consumer: undefined, errorCode: undefined, trace: undefined, header: () => undefined, route: undefined, target: '', query: '' })],
    ['an aborted request without upstream time', request({ aborted: true, upstreamMs: -1, status: 499 })],
    ['numbers that are not finite', request({ status: Number.NaN, bytesOut: Number.POSITIVE_INFINITY, elapsed: () => Number.NaN })],
  ])('matches JSON.stringify for %s', (_name, c) => {
    check(c, ALL);
    check(c, [...ALL].reverse());
    check(c, ALL, none);
  });

  it('keeps each field alone and in any order', () => {
    for (const f of ALL) {
      check(request(), [f]);
      check(request({ id: ODD, path: ODD, clientIp: ODD }), [f]);
    }
    check(request({ aborted: true }), []);
    check(request(), ['status', 'requestId', 'userAgent', 'path']);
  });
});
