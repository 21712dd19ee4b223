import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { freePort } from './helpers.js';

/**
 * Test harness for a real `redis-server`: started on a free loopback port with a
 * throw-away directory, no persistence, stopped by PID. When the binary is missing the
 * Redis suites are skipped with a message outside CI, and fail in CI (`CI` set), where
 * `.ci/run` installs it.
 *
 * @example
 *   describeRedis('shared limits', (redis) => {
 *     it('…', async () => { const url = redis().url; … });
 *   });
 */

const BIN = process.env.REDIS_SERVER ?? 'redis-server';

/** Whether `redis-server` can be run here. */
export const redisAvailable: boolean = spawnSync(BIN, ['--version'], { stdio: 'ignore' }).status === 0;

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** Kills the server (SIGKILL, like a crash) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after `kill`). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts a `redis-server` on a free 127.0.0.1 port and resolves once it answers PING.
 * `cluster: true` makes it a one-node Redis Cluster owning every slot (cluster protocol,
 * MOVED/CROSSSLOT rules and all) for testing the cluster client.
 */
export async function startRedis(options: { cluster?: boolean } = {}): Promise<RedisServer> {
  if (!redisAvailable) throw new Error(`${BIN} not found: install the Debian package redis-server (.ci/run does)`);
  const dir = mkdtempSync(join(tmpdir(), 'gantry-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async () => {
    const proc = spawn(
      BIN,
      [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning',
        ...(options.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-announce-ip', '127.0.0.1'] : []),
      ],
      { stdio: 'ignore' },
    );
    child = proc;
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode} on port ${port}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (options.cluster) {
      await command(port, 'CLUSTER ADDSLOTSRANGE 0 16383'); // '-ERR … already busy' after a restart: fine
      while (!(await command(port, 'CLUSTER INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`redis cluster on port ${port} did not become ok`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    await exited;
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined && child.exitCode === null;
    },
    kill: () => halt('SIGKILL'),
    restart: launch,
    stop: async () => {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `describe` for suites that need Redis: starts one server for the suite and stops it
 * after. Skips (with a message) when the binary is missing outside CI.
 */
export function describeRedis(name: string, body: (redis: () => RedisServer) => void): void {
  if (!redisAvailable && !process.env.CI) {
    process.stderr.write(`[redis] ${name}: skipped, ${BIN} not found (install the redis-server package to run it)\n`);
    describe.skip(`${name} (skipped: ${BIN} not found)`, () => body(() => undefined as never));
    return;
  }
  describe(name, () => {
    let server: RedisServer | undefined;
    beforeAll(async () => {
      // In CI a missing binary fails here, loudly, instead of skipping.
      server = await startRedis();
    });
    afterAll(async () => {
      await server?.stop();
    });
    body(() => {
      if (!server) throw new Error('redis-server is not running');
      return server;
    });
  });
}


/** Sends PING on a fresh connection; true on +PONG. */
async function ping(port: number): Promise<boolean> {
  return (await command(port, 'PING')).startsWith('+PONG');
}

/** Sends one inline command on a fresh connection; resolves the first reply chunk ('' on error). */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = (reply: string) => {
      sock.destroy();
      resolve(reply);
    };
    sock.setTimeout(500, () => done(''));
    sock.once('error', () => done(''));
    sock.once('data', (d) => done(d.toString()));
    sock.write(line + '\r\n');
  });
}

/**
 * A direct connection for a test to look at or change the server (CONFIG, ACL, keys): it
 * fails fast instead of queueing commands while the server is down.
 */
export async function redisAdmin(url: string): Promise<Redis> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await admin.connect();
  return admin;
}
