import type { Server } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the data path needs to know about the listener a request arrived on. */
export interface ListenerInfo {
  readonly name: string;
  /** Scheme as seen by clients: used for X-Forwarded-Proto and Forwarded `proto=`. */
  readonly scheme: 'http' | 'https';
  /**
   * Serves a request made inside the gateway as if it arrived on this listener: routing,
   * policies, handler, logs (`batch:` sub-requests). `res` collects the response.
   */
  readonly dispatch?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * The server behind a listener, whatever its protocol: a net.Server that can close its
 * idle connections (drain, reload) and all of them (stop). node:http servers are such;
 * the HTTP/2 ones (listeners/h2.ts) are given the two methods.
 */
export type ListenerServer = Server & { closeIdleConnections(): void; closeAllConnections(): void };
