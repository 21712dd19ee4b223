import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TlsOptions } from 'node:tls';
import { onClientError, type ListenerLimits } from './http.js';

/**
 * An HTTPS (HTTP/1.1 over TLS) server with the limits of a listener: the same strict
 * framing and limits as `createHttpServer`, plus the TLS options (see listeners/tls.ts).
 * Failed handshakes (no or untrusted client certificate with `clientAuth: required`,
 * a client offering only TLS < 1.2) end the connection before any request exists.
 *
 * @example createHttpsServer(limits, tlsServerOptions(cfg.tls, baseDir), handler)
 */
export function createHttpsServer(limits: ListenerLimits, tls: TlsOptions, handler: (req: IncomingMessage, res: ServerResponse) => void): https.Server {
  const server = https.createServer(
    {
      ...tls,
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      keepAliveTimeout: limits.keepAliveTimeout,
      insecureHTTPParser: false,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(limits.headersTimeout / 4))),
      // Handshakes count against the head timeout too: a client that never finishes one is cut.
      handshakeTimeout: Math.min(limits.headersTimeout, 10_000),
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection || null;
  server.on('clientError', onClientError);
  return server;
}
