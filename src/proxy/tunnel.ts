import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * An upgrade request the gateway took over from the HTTP server (`'upgrade'` event): the
 * client socket, the bytes read past the request head, and where an opened tunnel is
 * registered. Set on `RequestContext.upgrade` for the route handler.
 */
export interface UpgradeRequest {
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly tunnels: TunnelSet;
  /** The tunnel, once the upstream answered 101. */
  tunnel: Tunnel | undefined;
}

/**
 * Two sockets spliced together after a protocol switch (RFC 9110 §7.8): bytes flow both
 * ways through `pipe` (backpressure: a side that cannot write pauses the other's reads)
 * and are never parsed or buffered beyond the streams' own high-water marks. One side
 * ending ends the other (TCP half-close passes through); one side failing or closing
 * closes the other. With `idleTimeout` (ms), a tunnel with no byte in either direction for
 * that long is closed: every byte either way passes through the client socket, so its
 * inactivity timer covers both directions.
 *
 * @example
 *   const t = new Tunnel(clientSocket, upstreamSocket, clientHead, upstreamHead, 60_000);
 *   t.close(); // both sockets destroyed
 */
export class Tunnel {
  readonly client: Duplex;
  readonly upstream: Socket;
  readonly #clientWrittenAtStart: number;
  /** Set when the tunnel was closed for having been idle too long. */
  idledOut = false;

  constructor(client: Duplex, upstream: Socket, clientHead: Buffer, upstreamHead: Buffer, idleTimeout = 0) {
    this.client = client;
    this.upstream = upstream;
    const c = client as Socket;
    this.#clientWrittenAtStart = c.bytesWritten ?? 0;
    if (typeof c.setTimeout === 'function') {
      c.setTimeout(idleTimeout);
      if (idleTimeout > 0) {
        c.once('timeout', () => {
          this.idledOut = true;
          this.close();
        });
      }
    }
    if (typeof c.setNoDelay === 'function') c.setNoDelay(true);
    upstream.setTimeout(0);
    upstream.setNoDelay(true);
    // Bytes each side sent after its head (a client may pipeline its first frames).
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (clientHead.length > 0) upstream.write(clientHead);
    client.pipe(upstream);
    upstream.pipe(client);
    const fail = () => this.close();
    client.on('error', fail);
    upstream.on('error', fail);
    // `pipe` ends the other side on a clean end; a side gone (closed or reset) takes the other with it
    // once what was already written to it is flushed.
    client.once('close', () => endSoon(upstream));
    upstream.once('close', () => endSoon(client));
  }

  /** Bytes sent to the client since the tunnel opened (the 101 head included). */
  get bytesToClient(): number {
    return ((this.client as Socket).bytesWritten ?? 0) - this.#clientWrittenAtStart;
  }

  /** Closes both sockets now (drain, errors). */
  close(): void {
    this.client.destroy();
    this.upstream.destroy();
  }
}

function endSoon(s: Duplex): void {
  if (s.destroyed) return;
  const socket = s as Socket;
  if (typeof socket.destroySoon === 'function') socket.destroySoon();
  else s.destroy();
}

/**
 * The open tunnels of a gateway, so that drain and stop can close them: a tunnel has no
 * end of its own (a WebSocket lives until a peer closes it).
 *
 * @example
 *   const tunnels = new TunnelSet(() => gateway.checkIdle());
 *   tunnels.add(t); tunnels.delete(t); tunnels.closeAll();
 */
export class TunnelSet {
  readonly #open = new Set<Tunnel>();
  readonly #onChange: () => void;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  get size(): number {
    return this.#open.size;
  }

  add(t: Tunnel): void {
    this.#open.add(t);
    this.#onChange();
  }

  /** Forgets `t` (idempotent). */
  delete(t: Tunnel): void {
    this.#open.delete(t);
  }

  /** Closes every open tunnel. */
  closeAll(): void {
    for (const t of this.#open) t.close();
  }
}
