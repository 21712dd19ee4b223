import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TlsOptions } from 'node:tls';
import { applyLimits, httpServerOptions, type ListenerLimits } from './http.js';

/**
 * An HTTPS (HTTP/1.1 over TLS) server with the limits of a listener: the same strict
 * framing and limits as `createHttpServer`, plus the TLS options (see listeners/tls.ts).
 * Failed handshakes (no or untrusted client certificate with `clientAuth: required`,
 * a client offering only TLS < 1.2) end the connection before any request exists.
 *
 * @example createHttpsServer(limits, serverTls.serverOptions(), handler)
 */
export function createHttpsServer(limits: ListenerLimits, tls: TlsOptions, handler: (req: IncomingMessage, res: ServerResponse) => void): https.Server {
  const options: https.ServerOptions = {
    ...tls,
    ...httpServerOptions(limits),
    // Handshakes count against the head timeout too: a client that never finishes one is cut.
    handshakeTimeout: Math.min(limits.headersTimeout, 10_000),
  };
  return applyLimits(https.createServer(options, handler), limits);
}
