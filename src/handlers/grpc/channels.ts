import type { Client, ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { grpcJs } from './lazy.js';
import type { Target, Upstream } from '../../upstreams/upstream.js';
import type { GrpcConfig } from './schema.js';
import { usableCaFile } from '../../util/ca-file.js';

/**
 * One grpc-js client (one channel, one HTTP/2 connection) per target of an upstream, made
 * on first use and kept for the life of the config version. The upstream's balancer picks
 * the target, so its health and breaker state steer gRPC calls as they steer HTTP ones.
 * Channels of targets discovery removed are closed when the next channel is made.
 * grpc-js shares subchannels between equal channels, so a reload reuses open connections.
 *
 * @example
 *   const channels = new GrpcChannels(upstream, cfg.tls, baseDir);
 *   channels.get(upstream.pick(ctx, undefined)!).makeUnaryRequest(…);
 */
export class GrpcChannels {
  readonly #upstream: Upstream;
  readonly #plain: ChannelCredentials;
  readonly #tls: ChannelCredentials | undefined;
  readonly #options: ChannelOptions;
  readonly #tlsOptions: ChannelOptions;
  readonly #clients = new Map<Target, Client>();

  constructor(upstream: Upstream, tls: GrpcConfig['tls'], baseDir: string) {
    this.#upstream = upstream;
    const { credentials } = grpcJs();
    this.#plain = credentials.createInsecure();
    this.#options = { 'grpc.primary_user_agent': 'gantry' };
    this.#tlsOptions = tls?.serverName !== undefined ? { ...this.#options, 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : this.#options;
    const needsTls = upstream.targets.some((t) => t.url.startsWith('https:'));
    // The CA bytes the load checked (readCaFile), not a second, unchecked read.
    this.#tls = needsTls || tls !== undefined ? credentials.createSsl(tls?.ca !== undefined ? usableCaFile(tls, baseDir, tls.ca, ['grpc', 'tls', 'ca']) : null) : undefined;
  }

  /** The client of a target (created on first use). */
  get(t: Target): Client {
    let c = this.#clients.get(t);
    if (c !== undefined) return c;
    this.#prune();
    const url = new URL(t.url);
    const secure = url.protocol === 'https:';
    // `http://h:p` is gRPC over cleartext HTTP/2 (h2c), `https://h:p` over TLS.
    const { Client, credentials } = grpcJs();
    c = new Client(`${url.hostname}:${url.port || (secure ? 443 : 80)}`, secure ? (this.#tls ?? credentials.createSsl()) : this.#plain, secure ? this.#tlsOptions : this.#options);
    this.#clients.set(t, c);
    return c;
  }

  /** Closes every channel (calls in flight end with CANCELLED/UNAVAILABLE). */
  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  #prune(): void {
    const live = this.#upstream.targets;
    for (const [t, c] of this.#clients) {
      if (!live.includes(t)) {
        c.close();
        this.#clients.delete(t);
      }
    }
  }
}
