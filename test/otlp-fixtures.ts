import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A span as the OTLP/HTTP JSON export carries it. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number; message?: string };
}

/**
 * A real OTLP/HTTP receiver: decodes the JSON export (`/v1/traces`) the SDK posts.
 *
 * @example
 *   const receiver = await startReceiver(); // telemetry.tracing.endpoint: receiver.url
 *   receiver.spans.find((s) => s.kind === 2); // the server span, once exported
 */
export async function startReceiver(): Promise<{ url: string; spans: OtlpSpan[]; requests: { path: string; headers: http.IncomingHttpHeaders }[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const requests: { path: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: req.url!, headers: req.headers });
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/v1/traces`, spans, requests, close: () => new Promise((r) => server.close(() => r())) };
}

/** A span attribute's value (string, int or bool). */
export const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue));
};

/** OTLP span status codes. */
export const UNSET = 0;
export const ERROR = 2;
