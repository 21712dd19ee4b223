import { existsSync, writeFileSync } from 'node:fs';

/** The starter config `gantry init` writes: valid as written, every section explained. */
export const STARTER_CONFIG = `# Gantry gateway config. Reference: docs/concepts.md, docs/operations.md.
# Durations: 250ms, 5s, 1m. Sizes: 512kb, 10mb. \${VAR} and \${VAR:-default} read the environment.
version: 1

# Sockets the gateway serves. Routes serve every listener unless they name some.
listeners:
  - { name: public, port: 8080, host: 0.0.0.0 }

# Admin API (metrics, status, reload) on loopback, behind a bearer token:
#   curl -H "Authorization: Bearer $GANTRY_ADMIN_TOKEN" http://127.0.0.1:9901/api/status
admin: { host: 127.0.0.1, port: 9901, token: "\${GANTRY_ADMIN_TOKEN}" }

# Where rate-limit counters and cache entries live: memory (this process) or
# { kind: redis, url: redis://127.0.0.1:6379 } to share them between instances.
store: { kind: memory }

log:
  level: info
  access:
    sample: { successes: 1 }     # log every success; errors are always logged
    # output: logs/access.log   # default: stdout

# Zero-downtime reload when this file changes (SIGHUP and POST /api/reload always work).
reload: { watch: true, debounce: 300ms }

# telemetry:
#   tracing: { endpoint: http://127.0.0.1:4318/v1/traces, sampleRatio: 0.1 }

# Named pools of backends.
upstreams:
  app:
    targets: [ "http://127.0.0.1:3000" ]
    timeouts: { connect: 1s, response: 10s }

# A match plus what to do with it; the most specific match wins, \`priority\` breaks ties.
routes:
  - name: api
    match: { path: /api/*, methods: [GET, POST, PUT, PATCH, DELETE] }
    upstream: app
    rewrite: { stripPrefix: /api }
    policies:
      - request-id: {}
      - rate-limit: { limit: 100, window: 1m }

  - name: hello
    match: { path: /hello, methods: [GET] }
    static: { status: 200, body: { hello: world } }
`;

/** `gantry init [FILE] [--force]`: writes the starter config; refuses to overwrite without --force. */
export function init(file: string, force: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  if (existsSync(file) && !force) {
    err.write(`${file} exists; use --force to overwrite\n`);
    return 1;
  }
  writeFileSync(file, STARTER_CONFIG);
  out.write(`wrote ${file}\nnext: export GANTRY_ADMIN_TOKEN=$(openssl rand -hex 24) && gantry validate ${file} && gantry start --config ${file}\n`);
  return 0;
}
