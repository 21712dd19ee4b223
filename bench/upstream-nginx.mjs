// What bench/run.mjs and bench/instructions.mjs share: the nginx upstream's config and the
// place of the peer harness's node ceiling.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BODY, BODY_10K } from './bodies.mjs';

/**
 * Writes an nginx config under `dir` serving BODY on 127.0.0.1:`port` (and the 10 KB
 * document at /json-10k); returns its path, for `nginx -e stderr -c PATH`.
 */
export function writeNginxUpstream(dir, port) {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const q = (s) => s.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
  // nginx caps a config parameter's length, so the 10 KB document is a static file.
  writeFileSync(join(dir, 'json-10k.json'), BODY_10K);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off; client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp; keepalive_timeout 75s; keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} backlog=4096; default_type application/json;
    location /json-10k { alias ${dir}/json-10k.json; }
    location / { return 200 "${q(BODY)}"; }
  }
}
`,
  );
  return conf;
}

/** The peer harness's node ceiling: CEILING_SCRIPT, or ../shared (or ../../shared from a worktree). */
export function ceilingScript(root) {
  return (
    process.env.CEILING_SCRIPT ??
    ['../shared', '../../shared'].map((d) => resolve(root, d, 'bench/peers/node-ceiling.js')).find((f) => existsSync(f)) ??
    resolve(root, '../shared/bench/peers/node-ceiling.js')
  );
}
