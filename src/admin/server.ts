import { Buffer } from 'node:buffer';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdminConfig } from '../config/ops-schema.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problemFor } from '../errors.js';
import { ADMIN_ROUTES, type AdminBackend, type AdminReply, type AdminRoute } from './routes.js';
// Feature endpoints that register themselves in ADMIN_ROUTES / GATEWAY_COMMANDS.
import '../policies/cache/admin.js';
import './stats.js';
import './dashboard.js';

/** A client's `X-Request-Id` reused as the admin request's id: short, printable, no separators. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Largest admin request body (JSON commands are small). */
const MAX_BODY = 1024 * 1024;

/**
 * The admin listener: its own socket (loopback by default), every endpoint but the probes
 * behind a bearer token (RFC 6750) compared in constant time, routes from `ADMIN_ROUTES`.
 *
 * @example
 *   const admin = await AdminServer.start({ host: '127.0.0.1', port: 9901, token }, backend, logger);
 *   admin.port; // bound port
 *   await admin.close();
 */
export class AdminServer {
  readonly #server: http.Server;
  readonly #backend: AdminBackend;
  readonly #logger: Logger;
  #config: AdminConfig;
  #tokenDigest: Buffer;
  /** Released by a reload: replies close their connection. */
  #closing = false;

  private constructor(config: AdminConfig, backend: AdminBackend, logger: Logger) {
    this.#config = config;
    this.#tokenDigest = digest(config.token);
    this.#backend = backend;
    this.#logger = logger;
    this.#server = http.createServer({ requireHostHeader: false, headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 5_000;
  }

  static async start(config: AdminConfig, backend: AdminBackend, logger: Logger): Promise<AdminServer> {
    const s = new AdminServer(config, backend, logger);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(config.port, config.host, () => {
        s.#server.off('error', reject);
        resolve();
      });
    });
    logger.info({ admin: `${config.host}:${s.port}` }, 'admin listener started');
    return s;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Whether a new config needs a new socket (host or port changed). */
  needsRebind(next: AdminConfig): boolean {
    return next.host !== this.#config.host || (next.port !== this.#config.port && next.port !== 0);
  }

  /** Applies a reloaded config that keeps the socket (token rotation). */
  update(next: AdminConfig): void {
    this.#config = next;
    this.#tokenDigest = digest(next.token);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /**
   * Closes a listener a reload replaced or removed: stops accepting at once (the address is
   * free again), but requests in flight get their answers — the `POST /api/reload` that
   * moved the listener answers on the connection it came in on — then their connections
   * close (no keep-alive), every one at the latest after `graceMs`.
   *
   * @example
   *   const next = await AdminServer.start(moved, backend, logger);
   *   old.release(); // the reload's own reply still goes out on the old socket
   */
  release(graceMs = 5_000): void {
    this.#closing = true;
    const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    timer.unref();
    this.#server.close(() => clearTimeout(timer));
    this.#server.closeIdleConnections();
  }

  /** Sends a reply; once the listener is released, without keeping the connection open. */
  #send(res: ServerResponse, reply: AdminReply, extra?: string[]): void {
    if (this.#closing) res.shouldKeepAlive = false;
    send(res, reply, extra);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const routes = ADMIN_ROUTES.filter((r) => r.path === url.pathname);
    const route: AdminRoute | undefined = routes.find((r) => r.method === req.method || (r.method === 'GET' && req.method === 'HEAD'));
    try {
      if (routes.length === 0) return this.#send(res, problem(404, 'not-found', 'No such admin endpoint', `${url.pathname} is not an admin endpoint.`));
      if (route === undefined) {
        return this.#send(res, problem(405, 'method-not-allowed', 'Method not allowed', `${req.method} is not allowed here.`), ['allow', routes.map((r) => r.method).join(', ')]);
      }
      if (!route.public) {
        const denied = this.#authenticate(req);
        if (denied !== undefined) return this.#send(res, denied, ['www-authenticate', denied.status === 401 ? wwwAuthenticate(req) : 'Bearer realm="gantry-admin"']);
      }
      const body = await readJson(req);
      if (body instanceof Error) return this.#send(res, problem(400, 'bad-request', 'Bad request', body.message));
      const reply = await route.handle({ method: req.method!, path: url.pathname, query: url.searchParams, body, backend: this.#backend });
      this.#send(res, reply);
    } catch (e) {
      // The error's own text stays in the gateway log: it can carry file paths, store
      // addresses or internals the admin client has no use for (RFC 9457 §5).
      const id = requestIdOf(req);
      this.#logger.error({ err: e, endpoint: `${req.method} ${url.pathname}`, requestId: id }, 'admin request failed');
      const body = problemFor('GW_ERR_INTERNAL', `The admin request failed inside the gateway; the gateway log has the error under request id ${id}.`, id);
      this.#send(res, { status: 500, body, contentType: PROBLEM_CONTENT_TYPE }, ['x-request-id', id]);
    }
  }

  /** undefined when the request carries the admin token; otherwise the 401 to send. */
  #authenticate(req: IncomingMessage): AdminReply | undefined {
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(h);
    if (m === null) return problem(401, 'unauthorized', 'Unauthorized', 'The admin API needs `Authorization: Bearer <token>`.');
    // Compare digests: equal length whatever was sent, and timingSafeEqual does not leak
    // how many leading bytes matched.
    if (!timingSafeEqual(digest(m[1]!), this.#tokenDigest) || this.#config.token === '') {
      return problem(401, 'unauthorized', 'Unauthorized', 'The admin token is not valid.');
    }
    return undefined;
  }
}

/** The client's `X-Request-Id` when it is a plain token, else a fresh UUID. */
function requestIdOf(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** RFC 6750 §3: `error="invalid_token"` when a token was sent, bare challenge when none. */
function wwwAuthenticate(req: IncomingMessage): string {
  return req.headers.authorization === undefined ? 'Bearer realm="gantry-admin"' : 'Bearer realm="gantry-admin", error="invalid_token"';
}

function problem(status: number, type: string, title: string, detail: string): AdminReply {
  return { status, body: { type: PROBLEM_TYPE_BASE + type, title, status, detail }, contentType: PROBLEM_CONTENT_TYPE };
}

/** Headers `send` sets itself; a reply's `headers` cannot replace them. */
const SERVER_HEADERS = new Set(['content-type', 'cache-control', 'content-length', 'transfer-encoding', 'connection']);

function send(res: ServerResponse, reply: AdminReply, extra: string[] = []): void {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  const type = reply.contentType ?? 'application/json';
  const headers = ['content-type', type, 'cache-control', 'no-store', 'content-length', String(Buffer.byteLength(text)), ...extra];
  if (reply.headers !== undefined) {
    // The framing and caching headers above are the server's; a route adds to them only.
    for (const [name, value] of Object.entries(reply.headers)) if (!SERVER_HEADERS.has(name.toLowerCase())) headers.push(name, value);
  }
  res.writeHead(reply.status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** The request body as JSON (undefined when empty), or an Error describing why not. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return new Error(`body larger than ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return new Error('body is not valid JSON');
  }
}
