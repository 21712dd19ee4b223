#!/usr/bin/env node
// npm run fuzz — adversarial HTTP/1.1 input against the built gateway (dist/cli.js) over raw
// TCP sockets, from a seeded PRNG. Bounded (FUZZ_SECONDS, default 60, plus ~10 s of start
// and end checks), loopback only; stops every process it started, by PID. Exits 1 on any
// finding. Replay a run with the seed it prints:
//
//   FUZZ_SEED=1234 FUZZ_SECONDS=30 npm run fuzz
//
//   FUZZ_SEED=1234 FUZZ_CASE=17,240 npm run fuzz   # only these cases of that seed
//   FUZZ_VERBOSE=1 npm run fuzz                     # statuses per kind of case
//
// Each case is one client connection. Checked per case: the gateway process is alive; the
// connection ends (server close, or every request answered and the connection idle) within
// CASE_BOUND_MS; every response is complete; a 4xx/5xx the gateway made is problem+json; no
// gateway-made 5xx (the upstreams always answer 200). Checked at the upstreams (raw TCP
// servers with their own strict parser, so nothing is hidden by a lenient one): no request
// with both Content-Length and Transfer-Encoding, several Content-Length, a Transfer-Encoding
// other than `chunked`, an unparseable head or chunk; every request carries the Forwarded
// field the gateway adds (a request without it was smuggled inside another's body); bodies of
// well-formed requests arrive byte-exact; forwarded paths carry no dot segments and stay
// under the route's prefix. At the end: a normal request still works, no connection or
// request is left open in the gateway's gauges, and resident memory has not grown past
// RSS_GROWTH_LIMIT.
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 60);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 24);
/** requestTimeout 3 s + Node's connection check interval (≤ 1 s) + margin. */
const CASE_BOUND_MS = 6000;
const RSS_GROWTH_LIMIT = 96 * 1024 * 1024;
const ADMIN_TOKEN = 'fuzz-admin-token-0123456789abcdef';
const VERBOSE = process.env.FUZZ_VERBOSE === '1';
/** FUZZ_VERBOSE=1: what each kind of case got, printed at the end. */
const notes = new Map();
const LIMITS = { maxHeaderSize: 8192, maxUrlLength: 2048 };

// ---------------------------------------------------------------- PRNG (mulberry32)
// Each case draws from its own stream, seeded from the run's seed and the case number, so
// case N of a seed is the same bytes whatever the timing (FUZZ_CASE=N replays it alone).
let state = SEED;
function seedCase(id) {
  state = (SEED ^ Math.imul(Number(id), 0x9e3779b1)) >>> 0;
}
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const pick = (a) => a[int(a.length)];

// ---------------------------------------------------------------- findings and stats
const findings = [];
const stats = new Map(); // category -> { cases, statuses: Map, closedNoResponse }
function finding(kind, c, detail) {
  const f = { kind, case: c?.id, category: c?.category, detail, request: c ? preview(c.bytes) : undefined };
  findings.push(f);
  const replay = c ? ` [FUZZ_SEED=${SEED} FUZZ_CASE=${c.id}; ${c.note}]` : '';
  console.log(`FINDING [${kind}] case ${f.case ?? '-'} (${f.category ?? '-'})${replay}: ${detail}${f.request ? `\n  request: ${f.request}` : ''}`);
}
function preview(buf) {
  const s = JSON.stringify(buf.subarray(0, 400).toString('latin1'));
  return buf.length > 400 ? `${s}… (${buf.length} bytes)` : s;
}
function stat(category) {
  let s = stats.get(category);
  if (!s) stats.set(category, (s = { cases: 0, statuses: new Map(), closed: 0 }));
  return s;
}

// ---------------------------------------------------------------- upstreams (raw TCP, strict)
const casesById = new Map();
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parses one request from `buf`: null when more bytes are needed, `{ error }` when malformed. */
function parseRequest(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > 256 * 1024 ? { error: 'head longer than 256 KB' } : null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  if (lines.some((l) => /[\r\n]/.test(l))) return { error: 'bare CR or LF in the head' };
  const m = /^([^ ]+) ([^ ]+) HTTP\/1\.1$/.exec(lines[0]);
  if (!m || !TOKEN.test(m[1])) return { error: `bad request line ${JSON.stringify(lines[0])}` };
  if (!/^\/[\x21-\x7e]*$/.test(m[2])) return { error: `bad forwarded target ${JSON.stringify(m[2])}` };
  const headers = new Map();
  for (const line of lines.slice(1)) {
    const h = /^([^:]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!h || !TOKEN.test(h[1]) || /[\x00-\x08\x0a-\x1f\x7f]/.test(h[2])) return { error: `bad header line ${JSON.stringify(line)}` };
    const k = h[1].toLowerCase();
    headers.set(k, [...(headers.get(k) ?? []), h[2]]);
  }
  const cl = headers.get('content-length');
  const te = headers.get('transfer-encoding');
  if (cl && te) return { error: 'Content-Length and Transfer-Encoding together' };
  if (cl && (cl.length > 1 || !/^\d+$/.test(cl[0]))) return { error: `Content-Length ${JSON.stringify(cl)}` };
  if (te && (te.length > 1 || te[0].toLowerCase() !== 'chunked')) return { error: `Transfer-Encoding ${JSON.stringify(te)}` };
  let pos = end + 4;
  let body;
  if (cl) {
    const n = Number(cl[0]);
    if (buf.length < pos + n) return null;
    body = buf.subarray(pos, pos + n);
    pos += n;
  } else if (te) {
    const parts = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return buf.length - pos > 4096 ? { error: 'chunk size line longer than 4 KB' } : null;
      const sizeLine = /^([0-9a-fA-F]{1,15})(;[^\r\n]*)?$/.exec(buf.subarray(pos, eol).toString('latin1'));
      if (!sizeLine) return { error: `bad chunk size line ${preview(buf.subarray(pos, eol))}` };
      const size = parseInt(sizeLine[1], 16);
      pos = eol + 2;
      if (size === 0) {
        for (;;) {
          const t = buf.indexOf('\r\n', pos);
          if (t < 0) return null;
          const trailer = buf.subarray(pos, t).toString('latin1');
          pos = t + 2;
          if (trailer === '') break;
          if (/^(content-length|transfer-encoding)\s*:/i.test(trailer)) return { error: `framing field in a trailer: ${trailer}` };
        }
        break;
      }
      if (buf.length < pos + size + 2) return null;
      if (buf[pos + size] !== 13 || buf[pos + size + 1] !== 10) return { error: 'chunk data not followed by CRLF' };
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    body = Buffer.alloc(0);
  }
  return { consumed: pos, req: { method: m[1], target: m[2], headers, body } };
}

/** A raw upstream; `prefixes` are the paths its routes may forward (undefined: any). */
function startUpstream(name, prefixes) {
  const up = { name, requests: 0, truncated: 0, port: 0 };
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (buf.length > 0) up.truncated++; // the gateway gave up on a request mid-body: it closes, never reuses
    });
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        const r = parseRequest(buf);
        if (r === null) return;
        if (r.error) {
          finding('upstream-framing', casesById.get(caseIdIn(buf)), `${name} received ${r.error}: ${preview(buf)}`);
          buf = Buffer.alloc(0);
          sock.destroy();
          return;
        }
        buf = buf.subarray(r.consumed);
        up.requests++;
        checkForwarded(up, prefixes, r.req);
        const out = JSON.stringify({ upstream: name, n: up.requests, length: r.req.body.length });
        const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-upstream: ${name}\r\ncontent-length: ${Buffer.byteLength(out)}\r\n\r\n`;
        sock.write(r.req.method === 'HEAD' ? head : head + out);
      }
    });
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () => {
      up.port = server.address().port;
      up.server = server;
      ok(up);
    }),
  );
}

/**
 * A case's tag in its requests: the case number (`.k` for the k-th of a pipeline) and a
 * check on it, so that a mutated digit does not attribute a request to another case.
 */
function tag(id) {
  return `${id}-${check(String(id).split('.')[0])}`;
}
function check(n) {
  return (Math.imul(Number(n) + 1, 0x9e3779b1) >>> 0).toString(36);
}
/** The case number of a tag, or undefined when the tag was damaged. */
function untag(t) {
  const m = /^(\d+)(?:\.\d+)?-([0-9a-z]+)$/.exec(t ?? '');
  return m && check(m[1]) === m[2] ? m[1] : undefined;
}
function caseIdIn(buf) {
  return untag(/x-fuzz-case: *(\S+)/i.exec(buf.subarray(0, 16384).toString('latin1'))?.[1]);
}

function checkForwarded(up, prefixes, req) {
  const c = casesById.get(untag(req.headers.get('x-fuzz-case')?.[0] ?? req.headers.get('x-fuzz-inner')?.[0]));
  const line = `${req.method} ${req.target}`;
  if (!req.headers.has('forwarded') || !req.headers.has('x-forwarded-for')) {
    finding('smuggled', c, `${up.name} parsed a request the gateway did not send (no Forwarded): ${line}`);
  }
  // A mutated request may legitimately turn its body into a request of its own; a well-formed one never.
  if (req.target.includes('__smuggled__') && c?.innerIsBody) finding('smuggled', c, `${up.name} received the request hidden in a body: ${line}`);
  if (c?.reject) finding('forwarded-bad', c, `${up.name} received a request the gateway must refuse: ${line}`);
  const path = req.target.split('?')[0];
  if (/(^|\/)\.\.?(\/|$)|%2e|\/\/|\\/i.test(path)) finding('path', c, `${up.name} received a path that is not normalised: ${line}`);
  if (prefixes && !prefixes.some((p) => path === p || path.startsWith(p + '/'))) finding('path', c, `${up.name} received a path outside its routes: ${line}`);
  const want = req.headers.get('x-fuzz-len')?.[0];
  if (want !== undefined && Number(want) !== req.body.length) finding('body-length', c, `${up.name} received ${req.body.length} body bytes, the client sent ${want}: ${line}`);
  if (c) c.forwarded++;
}

// ---------------------------------------------------------------- request building
const ROUTES = ['/api', '/pol', '/tx', '/strip', '/private'];
const route = () => pick(ROUTES);
const seg = () => pick(['x', 'a/b', 'items/42', 'v1/users', '', 'x.json', 'a-b_c~d']);

/** A well-formed request; `x-fuzz-len` (exact-body check) only when `exact`. */
function request({ id, method = 'GET', target, body, framing = body ? 'cl' : 'none', extra = [], version = '1.1', exact = true, close = false }) {
  const h = [`${method} ${target} HTTP/${version}`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`];
  h.push(...extra);
  if (close) h.push('Connection: close');
  let payload = '';
  if (framing === 'cl') {
    h.push(`Content-Length: ${Buffer.byteLength(body ?? '', 'latin1')}`);
    payload = body ?? '';
  } else if (framing === 'chunked') {
    h.push('Transfer-Encoding: chunked');
    payload = chunk(body ?? '');
  }
  if (exact && body !== undefined && framing !== 'none' && !target.startsWith('/tx') && method !== 'HEAD') h.push(`X-Fuzz-Len: ${Buffer.byteLength(body, 'latin1')}`);
  return `${h.join('\r\n')}\r\n\r\n${payload}`;
}
function chunk(body) {
  let out = '';
  for (let i = 0; i < body.length; ) {
    const n = 1 + int(Math.min(64, body.length - i));
    out += `${n.toString(16)}\r\n${body.slice(i, i + n)}\r\n`;
    i += n;
  }
  return out + '0\r\n\r\n';
}
const json = () => JSON.stringify({ name: 'x'.repeat(int(40)), n: int(1000), list: [1, 2, 3].slice(0, int(4)) });
/** A request hidden in a body; `X-Fuzz-Inner` names its case if an upstream ever parses it. */
const innerFor = (id) => `GET /api/__smuggled__ HTTP/1.1\r\nHost: gw.test\r\nX-Fuzz-Inner: ${tag(id)}\r\n\r\n`;

function validRequest(id, exact = true) {
  const method = pick(['GET', 'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH']);
  const target = `${route()}/${seg()}${rand() < 0.2 ? '?q=1&r=%20' : ''}`;
  const hasBody = method !== 'GET' && method !== 'HEAD' && rand() < 0.8;
  const body = hasBody ? (rand() < 0.3 ? innerFor(String(id).split('.')[0]) : json()) : undefined;
  return { text: request({ id, method, target, body, framing: hasBody ? pick(['cl', 'chunked']) : 'none', exact }), method };
}

// ---------------------------------------------------------------- mutations
const MUTATIONS = {
  flip: (b) => {
    const i = int(b.length);
    b[i] ^= 1 << int(8);
    return b;
  },
  truncate: (b) => b.subarray(0, int(b.length)),
  'dup-crlf': (b) => splice(b, crlfAt(b), 0, '\r\n'),
  'drop-cr': (b) => dropAt(b, b.indexOf(13, int(b.length))),
  'drop-lf': (b) => dropAt(b, b.indexOf(10, int(b.length))),
  'obs-fold': (b) => splice(b, crlfAt(b) + 2, 0, pick([' ', '\t']) + 'folded\r\n'),
  'ctl-byte': (b) => splice(b, int(b.length), 0, String.fromCharCode(pick([0, 1, 8, 9, 11, 12, 13, 10, 27, 127, 0x80, 0xff]))),
  'dup-line': (b) => {
    const s = b.toString('latin1');
    const lines = s.split('\r\n');
    const i = 1 + int(Math.max(1, lines.indexOf('') - 1));
    lines.splice(i, 0, lines[i]);
    return Buffer.from(lines.join('\r\n'), 'latin1');
  },
  'drop-byte': (b) => dropAt(b, int(b.length)),
  'space-colon': (b) => {
    const i = b.indexOf(':'.charCodeAt(0), int(b.length));
    return i < 0 ? b : splice(b, i, 0, pick([' ', '\t']));
  },
};
function splice(b, at, del, text) {
  const i = Math.max(0, Math.min(b.length, at));
  return Buffer.concat([b.subarray(0, i), Buffer.from(text, 'latin1'), b.subarray(i + del)]);
}
function dropAt(b, i) {
  return i < 0 ? b : Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
}
function crlfAt(b) {
  const i = b.indexOf('\r\n', int(b.length));
  return i < 0 ? b.indexOf('\r\n') : i;
}

// ---------------------------------------------------------------- case generators
const TE_VARIANTS = ['chunked', 'CHUNKED', 'Chunked', 'chunked, identity', 'identity, chunked', 'xchunked', 'chunked ', ' chunked', 'chunked\t', 'gzip, chunked', 'chunked, chunked', '"chunked"', 'chunked;q=1', 'chunk', 'chunked\x0b', 'identity', ''];
const CL_VARIANTS = ['-1', '+5', '5 ', ' 5', '0x5', '05', '5, 5', '5,6', '5 5', '99999999999999999999', '9007199254740993', '1e3', '', '5\x00', '５'];
const CHUNK_SIZES = ['zz', '-1', '0x5', ' 5', '5 ', 'ffffffffffffffffff', '10000000000', '5;', '5;a=b', '5;a="x\\"y"', `5;${'e'.repeat(9000)}`, '5 ;a', '5\t;a', '05', '+5', '5;a=b\x00'];

const GENERATORS = {
  mutation(id) {
    const { text, method } = validRequest(id, false);
    let b = Buffer.from(text, 'latin1');
    const applied = [];
    for (let k = 1 + int(3); k > 0; k--) {
      const name = pick(Object.keys(MUTATIONS));
      applied.push(name);
      b = MUTATIONS[name](Buffer.from(b));
    }
    return { bytes: b, note: applied.join('+'), methods: [method] };
  },
  'content-length'(id) {
    const inner = innerFor(id);
    const v = pick(CL_VARIANTS);
    const kind = int(5);
    const base = [`POST /${pick(['api', 'pol', 'tx', 'strip'])}/cl HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`];
    if (kind === 0) return { bytes: raw([...base, `Content-Length: ${v}`], 'hello'), note: `CL ${JSON.stringify(v)}` };
    if (kind === 1) return { bytes: raw([...base, 'Content-Length: 5', 'Content-Length: 5'], 'hello'), note: 'duplicate equal CL' };
    if (kind === 2) return { bytes: raw([...base, `Content-Length: ${5 + 1 + int(40)}`], 'hello'), note: 'CL longer than the body' };
    if (kind === 3) return { bytes: raw([...base, 'Content-Length: 2'], 'hello' + inner), note: 'CL shorter than the body' };
    return { bytes: raw([...base, `Content-Length: ${pick(['0', '5'])}`, `Transfer-Encoding: ${pick(TE_VARIANTS)}`], '5\r\nhello\r\n0\r\n\r\n' + inner), note: 'CL+TE', reject: true };
  },
  'transfer-encoding'(id) {
    const inner = innerFor(id);
    const te = pick(TE_VARIANTS);
    const base = [`POST /${pick(['api', 'pol', 'tx'])}/te HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`];
    const kind = int(4);
    const body = '5\r\nhello\r\n0\r\n\r\n';
    if (kind === 0) return { bytes: raw([...base, `Transfer-Encoding: ${te}`], body), note: `TE ${JSON.stringify(te)}` };
    if (kind === 1) return { bytes: raw([...base, 'Transfer-Encoding: chunked', `Transfer-Encoding: ${te}`], body), note: `TE chunked + ${JSON.stringify(te)}` };
    if (kind === 2) return { bytes: raw([...base, `${pick(['Transfer-Encoding ', 'Transfer_Encoding', ' Transfer-Encoding', 'Transfer-Encoding\t'])}: chunked`], body + inner), note: 'TE name obfuscated' };
    return { bytes: raw([...base, `Transfer-Encoding: ${te}`, 'Content-Length: 3'], body), note: `TE ${JSON.stringify(te)} + CL`, reject: true };
  },
  chunks(id) {
    const inner = innerFor(id);
    const base = [`POST /${pick(['api', 'pol', 'tx', 'strip'])}/chunks HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`, 'Transfer-Encoding: chunked'];
    const kind = int(7);
    if (kind === 0) return { bytes: raw(base, `${pick(CHUNK_SIZES)}\r\nhello\r\n0\r\n\r\n`), note: 'chunk size / extension' };
    if (kind === 1) return { bytes: raw(base, '5\r\nhello\r\n'), note: 'missing last chunk' };
    if (kind === 2) return { bytes: raw(base, `5\r\nhello${pick(['', 'xx', '\n', 'x\r\n'])}\r\n0\r\n\r\n`), note: 'chunk data length off' };
    if (kind === 3) return { bytes: raw(base, `5\r\nhello\r\n0\r\n${pick(['X-T: 1', 'Content-Length: 40', 'Transfer-Encoding: chunked', 'X-T: a\x00b', `X-T: ${'t'.repeat(9000)}`, 'bad trailer', ' folded'])}\r\n\r\n${pick(['', inner])}`), note: 'trailer' };
    if (kind === 4) return { bytes: raw(base, '5\nhello\n0\n\n'), note: 'LF-only chunk lines' };
    if (kind === 5) return { bytes: raw(base, `5\r\nhello\r\n0\r\n\r\n${inner}`), note: 'chunked then pipelined', pipelined: 2 };
    return { bytes: raw(base, `${'0'.repeat(1 + int(300))}5\r\nhello\r\n0\r\n\r\n`), note: 'leading zeros' };
  },
  smuggling(id) {
    const inner = innerFor(id);
    const base = [`POST /api/smuggle HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`];
    const innerLen = Buffer.byteLength(inner);
    const variants = [
      ['CL.TE', [...base, `Content-Length: ${6 + innerLen}`, 'Transfer-Encoding: chunked'], `0\r\n\r\n${inner}`, true],
      ['TE.CL', [...base, 'Transfer-Encoding: chunked', 'Content-Length: 4'], `${(innerLen + 2).toString(16)}\r\nx=${inner}\r\n0\r\n\r\n`, true],
      ['TE.TE', [...base, 'Transfer-Encoding: chunked', 'Transfer-Encoding: x'], `0\r\n\r\n${inner}`, true],
      ['CL.CL', [...base, 'Content-Length: 0', `Content-Length: ${innerLen}`], inner, true],
      ['body is a request (GET with CL)', [`GET /api/smuggle HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`, `Content-Length: ${innerLen}`], inner, false],
      ['body is a request (chunked)', [...base, 'Transfer-Encoding: chunked'], chunk(inner), false],
      ['body is a request (CL)', [...base, `Content-Length: ${innerLen}`], inner, false],
      ['HTTP/1.0 with TE', [`POST /api/smuggle HTTP/1.0`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`, 'Transfer-Encoding: chunked'], `0\r\n\r\n${inner}`, false],
      ['TE in a header value', [...base, `X-A: b\r\n Transfer-Encoding: chunked`, 'Content-Length: 5'], 'hello', true],
      ['CRLF in a header value (LF)', [...base, 'X-A: b\nTransfer-Encoding: chunked', `Content-Length: ${innerLen}`], inner, true],
      ['NUL before TE', [...base, '\x00Transfer-Encoding: chunked', 'Content-Length: 5'], 'hello', true],
    ];
    const [note, lines, body, reject] = pick(variants);
    // Requests the gateway takes must carry the body whole; the inner request stays body.
    const exact = !reject && note.startsWith('body is');
    if (exact) lines.push(`X-Fuzz-Len: ${innerLen}`);
    return { bytes: raw(lines, body), note, reject, innerIsBody: exact };
  },
  targets(id) {
    const t = pick([
      'http://gw.test/api/x', 'https://evil.test/api/x', 'http://gw.test', 'http://gw.test?x=1', 'HTTP://GW.TEST/api/x', 'http://u:p@gw.test/api/x', 'ftp://gw.test/api/x',
      'gw.test:80', 'gw.test:443', '*', '/api/%2e%2e/private/x', '/api/%2E%2E%2Fprivate', '/api/..%2fprivate', '/api/%252e%252e/private', '/api/.%2e/private/x',
      '/api/%2e./private/x', '/api//../private/x', '/api/x?../../private', '/api/x#frag', '/api/x/..;/private', '/api/%c0%ae%c0%ae/private', '/api/\xe9', '/api/a b', '/api/a\tb',
      '/api/%00', '/api/%', '/api/%zz', '//api/x', '/.', '/..', '/../api/x', '/strip/../private/x', '/strip/%2e%2e/%2e%2e/private', '/strip/', '/strip', '/STRIP/x', '/strip/%2fprivate',
      '/strip//private', '/api/%2f%2e%2e%2fprivate', '/api/x%3f/../y', '?x', '', '/api/@x', `/api/${'a'.repeat(LIMITS.maxUrlLength - 6 + int(12))}`, '/api/x/.', '/api/x/..', '/pol/../api/x',
      '/tx/%2e', '/api/\\x', '/api/%5c..%5cprivate', '/api/%u002e', '/api/x;a=b', '/healthz/../api/x', '/readyz?x',
    ]);
    const method = pick(['GET', 'GET', 'OPTIONS', 'CONNECT', 'POST']);
    const lines = [`${method} ${t} HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`];
    if (method === 'POST') lines.push('Content-Length: 2');
    return { bytes: raw(lines, method === 'POST' ? 'ok' : ''), note: `${method} ${JSON.stringify(t.slice(0, 60))}`, methods: [method] };
  },
  protocol(id) {
    const variants = [
      ['HTTP/1.0 no keep-alive', `GET /api/x HTTP/1.0\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['HTTP/1.0 keep-alive', `GET /api/x HTTP/1.0\r\nHost: gw.test\r\nConnection: keep-alive\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\nGET /pol/y HTTP/1.0\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`, 2],
      ['HTTP/1.0 POST without length', `POST /api/x HTTP/1.0\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\nhello`],
      ['HTTP/0.9', 'GET /api/x\r\n\r\n'],
      ['HTTP/2.0 line', `GET /api/x HTTP/2.0\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['HTTP/1.2', `GET /api/x HTTP/1.2\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['h2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
      ['lower-case method', `get /api/x HTTP/1.1\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['unknown method', `FOO /api/x HTTP/1.1\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['TRACE', `TRACE /api/x HTTP/1.1\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['CONNECT', `CONNECT gw.test:443 HTTP/1.1\r\nHost: gw.test:443\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['OPTIONS *', `OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['Upgrade websocket', `GET /api/ws HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['Upgrade h2c', `GET /api/h2c HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['Expect 100-continue', `POST /api/x HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\nX-Fuzz-Len: 5\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\nhello`],
      ['Expect 100-continue, body never sent', `POST /api/x HTTP/1.1\r\nHost: gw.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['Expect unknown', `POST /api/x HTTP/1.1\r\nHost: gw.test\r\nExpect: ${pick(['200-ok', '100-continue, x', 'x'])}\r\nContent-Length: 5\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\nhello`],
      ['no Host', `GET /api/x HTTP/1.1\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`, 1, true],
      ['two Host', `GET /api/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['odd Host', `GET /api/x HTTP/1.1\r\nHost: ${pick(['a b', 'a@b', '', 'a/b', '[::1', 'a:b:c', '\xff'])}\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['HEAD', `HEAD /api/x HTTP/1.1\r\nHost: gw.test\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
      ['Connection names Content-Length', `POST /api/x HTTP/1.1\r\nHost: gw.test\r\nConnection: content-length\r\nContent-Length: 5\r\nX-Fuzz-Len: 5\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\nhello`],
      ['Connection names Host', `GET /api/x HTTP/1.1\r\nHost: gw.test\r\nConnection: host, x-forwarded-for, forwarded\r\nX-Fuzz-Case: ${tag(id)}\r\n\r\n`],
    ];
    const [note, text, pipelined = 1, reject = false] = pick(variants);
    const method = /^[A-Za-z]+/.exec(text)[0];
    return { bytes: Buffer.from(text, 'latin1'), note, pipelined, reject, methods: Array(pipelined).fill(method) };
  },
  limits(id) {
    const near = LIMITS.maxHeaderSize - 80 + int(160);
    const kind = int(6);
    const base = [`GET /${pick(['api', 'pol', 'strip'])}/limits HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`];
    if (kind === 0) return { bytes: raw([...base, `X-Big: ${'b'.repeat(near)}`], ''), note: `header value ~${near}` };
    if (kind === 1) return { bytes: raw([...base, `X-${'n'.repeat(near)}: 1`], ''), note: `header name ~${near}` };
    if (kind === 2) {
      const n = pick([90, 100, 101, 500, 1999, 2000, 2001, 3000]);
      return { bytes: raw([...base, ...Array.from({ length: n }, (_, i) => `X-H${i}: ${i % 2}`)], ''), note: `${n} headers` };
    }
    if (kind === 3) return { bytes: raw([...base, ...Array.from({ length: 300 }, () => 'Cookie: a=b')], ''), note: 'many Cookie lines' };
    if (kind === 4) return { bytes: raw([...base, 'X-Empty:', 'X-Spaces:    ', `X-Tab:\t\tv\t`], ''), note: 'empty and padded values' };
    return { bytes: raw([`GET /api/${'u'.repeat(LIMITS.maxUrlLength + int(64))} HTTP/1.1`, 'Host: gw.test', `X-Fuzz-Case: ${tag(id)}`], ''), note: 'URL over maxUrlLength' };
  },
  pipelining(id) {
    const n = 2 + int(5);
    let text = '';
    const methods = [];
    for (let k = 0; k < n; k++) {
      const r = validRequest(`${id}.${k}`);
      text += r.text;
      methods.push(r.method);
    }
    if (rand() < 0.3) text += `GET /api/last HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\nX-Fuzz-Case: ${tag(`${id}.${n}`)}\r\n\r\n`;
    return { bytes: Buffer.from(text, 'latin1'), note: `${n} pipelined`, pipelined: n, methods, innerIsBody: true };
  },
  slow(id) {
    const r = validRequest(id);
    return { bytes: Buffer.from(r.text, 'latin1'), note: 'byte by byte', slow: true, methods: [r.method], innerIsBody: true };
  },
  'early-close'(id) {
    const body = json() + 'x'.repeat(int(20000));
    const target = `/${pick(['api', 'pol', 'tx', 'strip'])}/early`;
    const text = request({ id, method: 'POST', target, body, framing: pick(['cl', 'chunked']), exact: false });
    const head = text.indexOf('\r\n\r\n');
    const cut = pick([int(head), head + 4, head + 4 + int(text.length - head - 4)]);
    return { bytes: Buffer.from(text.slice(0, cut), 'latin1'), note: `closes after ${cut}/${text.length} bytes`, earlyClose: true };
  },
};
function raw(lines, body) {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

const WEIGHTS = { mutation: 6, 'content-length': 2, 'transfer-encoding': 2, chunks: 2, smuggling: 2, targets: 2, protocol: 2, limits: 1, pipelining: 2, slow: 1, 'early-close': 1 };
const WHEEL = Object.entries(WEIGHTS).flatMap(([k, w]) => Array(w).fill(k));

// ---------------------------------------------------------------- responses
/** Parses responses from `buf`; `ended`: the server closed, so a body without framing is complete. */
function parseResponses(buf, methods, ended) {
  const out = [];
  let pos = 0;
  for (;;) {
    if (pos >= buf.length) return { responses: out, rest: 0 };
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end < 0) return { responses: out, rest: buf.length - pos };
    const lines = buf.subarray(pos, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) return { responses: out, rest: buf.length - pos, garbage: true };
    const status = Number(m[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let bodyStart = end + 4;
    if (status < 200) {
      pos = bodyStart;
      continue;
    }
    const method = methods[out.length];
    let body;
    const declared = Number(headers['content-length']);
    // A HEAD the listener could not parse gets its problem body (it never became a HEAD request).
    if (method === 'HEAD' && ended && buf.length - bodyStart === declared && status >= 400) {
      body = buf.subarray(bodyStart);
      bodyStart = buf.length;
    } else if (method === 'HEAD' || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let p = bodyStart;
      for (;;) {
        const eol = buf.indexOf('\r\n', p);
        if (eol < 0) return { responses: out, rest: buf.length - pos };
        const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16);
        if (size === 0) {
          const fin = buf.indexOf('\r\n\r\n', eol - 2 >= p ? eol - 2 : p);
          if (fin < 0) return { responses: out, rest: buf.length - pos };
          bodyStart = fin + 4;
          break;
        }
        if (buf.length < eol + 2 + size + 2) return { responses: out, rest: buf.length - pos };
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        p = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      out.push({ status, headers, body });
      pos = bodyStart;
      continue;
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < bodyStart + n) return { responses: out, rest: buf.length - pos };
      body = buf.subarray(bodyStart, bodyStart + n);
      bodyStart += n;
    } else {
      if (!ended) return { responses: out, rest: buf.length - pos };
      body = buf.subarray(bodyStart);
      bodyStart = buf.length;
    }
    out.push({ status, headers, body });
    pos = bodyStart;
  }
}

// ---------------------------------------------------------------- one case
let gatewayProc;
async function runCase(c) {
  const s = stat(c.category);
  s.cases++;
  const chunks = [];
  let ended = false;
  let lastData = Date.now();
  const sock = net.connect(gatewayPort, '127.0.0.1');
  sock.setNoDelay(true);
  sock.on('data', (d) => {
    chunks.push(d);
    lastData = Date.now();
  });
  sock.on('error', () => undefined);
  const closed = new Promise((r) => sock.once('close', r)).then(() => (ended = true));
  await new Promise((r) => sock.once('connect', r).once('error', r));
  if (c.slow) {
    for (let i = 0; i < c.bytes.length && !ended; i++) {
      sock.write(c.bytes.subarray(i, i + 1));
      await sleep(c.bytes.length > 200 ? 3 : 8);
    }
  } else if (c.splitAt > 0) {
    const at = c.splitAt;
    sock.write(c.bytes.subarray(0, at));
    await sleep(c.pause);
    if (!ended) sock.write(c.bytes.subarray(at));
  } else {
    sock.write(c.bytes);
  }
  if (c.earlyClose) {
    await sleep(c.pause * 3);
    sock.destroy();
    await closed;
    return;
  }
  const deadline = Date.now() + CASE_BOUND_MS;
  const methods = c.methods ?? [];
  let parsed;
  for (;;) {
    parsed = parseResponses(Buffer.concat(chunks), methods, ended);
    if (ended) break;
    if (parsed.responses.length >= (c.pipelined ?? 1) && parsed.rest === 0 && Date.now() - lastData > 150) break; // answered, idle
    if (Date.now() > deadline) {
      finding('hang', c, `connection neither answered nor closed after ${CASE_BOUND_MS} ms (${parsed.responses.length} responses, ${parsed.rest} bytes pending)`);
      break;
    }
    await Promise.race([closed, sleep(25)]);
  }
  sock.destroy();
  if (parsed.garbage) finding('response', c, `not an HTTP response: ${preview(Buffer.concat(chunks))}`);
  else if (parsed.rest > 0 && ended) finding('response', c, `connection closed mid-response: ${preview(Buffer.concat(chunks))}`);
  if (parsed.responses.length === 0) {
    s.closed++;
    if (VERBOSE) notes.set(`${c.category}: ${c.note}`, `${notes.get(`${c.category}: ${c.note}`) ?? ''} closed`);
  }
  for (const r of parsed.responses) {
    s.statuses.set(r.status, (s.statuses.get(r.status) ?? 0) + 1);
    if (VERBOSE) notes.set(`${c.category}: ${c.note}`, `${notes.get(`${c.category}: ${c.note}`) ?? ''} ${r.status}`);
    if (r.headers['x-upstream'] !== undefined || r.headers['x-static'] !== undefined) continue;
    if (r.status >= 400 && r.headers['content-type'] !== 'application/problem+json') {
      finding('not-problem', c, `gateway answered ${r.status} with content-type ${r.headers['content-type'] ?? '(none)'}`);
    }
    // 505 (another HTTP version) and 501 (CONNECT) are the gateway's answers to the request itself; any other 5xx is its own failure.
    if (r.status >= 500 && r.status !== 505 && r.status !== 501) finding('5xx', c, `gateway answered ${r.status}: ${r.body.toString('latin1').slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------- process handling
function freePort() {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}
function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
async function get(port, path, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
function alive() {
  return gatewayProc.exitCode === null && gatewayProc.signalCode === null;
}

// ---------------------------------------------------------------- main
const upA = await startUpstream('a', ['/api', '/pol', '/tx']);
const upB = await startUpstream('b', undefined);
const gatewayPort = await freePort();
const adminPort = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'gantry-fuzz-'));
const file = join(dir, 'gateway.yaml');
writeFileSync(
  file,
  `version: 1
listeners:
  - name: public
    port: ${gatewayPort}
    host: 127.0.0.1
    limits: { maxHeaderSize: ${LIMITS.maxHeaderSize}, maxUrlLength: ${LIMITS.maxUrlLength}, headersTimeout: 2s, requestTimeout: 3s, keepAliveTimeout: 2s }
admin: { host: 127.0.0.1, port: ${adminPort}, token: ${ADMIN_TOKEN} }
log: { level: error, access: false }
upstreams:
  a: { targets: [ "http://127.0.0.1:${upA.port}" ] }
  b: { targets: [ "http://127.0.0.1:${upB.port}" ] }
routes:
  - { name: api, match: { path: /api/* }, upstream: a }
  - name: pol
    match: { path: /pol/* }
    upstream: a
    policies:
      - request-id: {}
      - headers: { request: { set: { x-route: pol } }, response: { set: { x-route: pol } } }
  - name: tx
    match: { path: /tx/* }
    upstream: a
    policies:
      - transform: { request: { body: [ { set: /fuzz, value: "\${request.id}" } ], maxBodySize: 16kb } }
  - { name: strip, match: { path: /strip/* }, upstream: b, rewrite: { stripPrefix: /strip } }
  - { name: private, match: { path: /private/* }, static: { status: 403, headers: { x-static: "1" }, body: private } }
`,
);
let output = '';
gatewayProc = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
gatewayProc.stdout.on('data', (d) => (output = (output + d).slice(-20000)));
gatewayProc.stderr.on('data', (d) => (output = (output + d).slice(-20000)));
const stopAll = () => {
  if (gatewayProc.exitCode === null) gatewayProc.kill('SIGKILL');
};
process.on('exit', stopAll);
for (let t = Date.now(); ; await sleep(100)) {
  if (!alive()) {
    console.error(`gateway exited at start:\n${output}`);
    process.exit(2);
  }
  try {
    if ((await get(gatewayPort, '/healthz')).status === 200) break;
  } catch {}
  if (Date.now() - t > 20000) {
    console.error(`gateway did not start:\n${output}`);
    process.exit(2);
  }
}
console.log(`fuzz-http: seed ${SEED}, ${SECONDS} s, ${CONCURRENCY} connections at a time (replay: FUZZ_SEED=${SEED} npm run fuzz)`);

const until = Date.now() + SECONDS * 1000;
let nextId = 1;
let rssStart = 0;
let crashed = false;
/** FUZZ_CASE=7,42: run only these cases of the seed, once each. */
const only = process.env.FUZZ_CASE ? process.env.FUZZ_CASE.split(',').map((s) => s.trim()) : undefined;
const workers = Array.from({ length: CONCURRENCY }, async () => {
  while (only ? only.length > 0 : Date.now() < until && !crashed) {
    const id = only ? only.shift() : String(nextId++);
    seedCase(id);
    const category = pick(WHEEL);
    const c = { id, category, forwarded: 0, ...GENERATORS[category](id) };
    // Delivery: in one write, or in two with a pause between (a head or body split anywhere).
    c.splitAt = rand() < 0.3 && c.bytes.length > 2 ? 1 + int(c.bytes.length - 1) : 0;
    c.pause = int(20);
    casesById.set(id, c);
    await runCase(c);
    if (!alive()) {
      crashed = true;
      finding('crash', c, `gateway process exited (${gatewayProc.exitCode ?? gatewayProc.signalCode}):\n${output.slice(-4000)}`);
    }
    if (rssStart === 0 && Date.now() > until - SECONDS * 750) rssStart = rss(gatewayProc.pid);
  }
});
await Promise.all(workers);

// ---------------------------------------------------------------- end checks
if (alive()) {
  const ok = await get(gatewayPort, '/api/final').catch((e) => ({ status: 0, text: String(e), headers: new Headers() }));
  if (ok.status !== 200 || ok.headers.get('x-upstream') !== 'a') finding('after', undefined, `GET /api/final answered ${ok.status}: ${ok.text.slice(0, 200)}`);
  const body = JSON.stringify({ a: 1 });
  const tx = await fetch(`http://127.0.0.1:${gatewayPort}/tx/final`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }).catch(() => undefined);
  if (tx?.status !== 200) finding('after', undefined, `POST /tx/final answered ${tx?.status}`);
  await tx?.text();
  let gauges = '';
  for (let t = Date.now(); Date.now() - t < 5000; await sleep(200)) {
    const m = (await get(adminPort, '/metrics', { authorization: `Bearer ${ADMIN_TOKEN}` })).text;
    const conns = Number(/^gantry_http_active_connections\{listener="public"\} (\S+)/m.exec(m)?.[1] ?? NaN);
    const inflight = Number(/^gantry_requests_in_flight (\S+)/m.exec(m)?.[1] ?? NaN);
    gauges = `active connections ${conns}, requests in flight ${inflight}`;
    if (conns === 0 && inflight === 0) break;
  }
  if (!/connections 0, requests in flight 0/.test(gauges)) finding('leak', undefined, `5 s after the last case: ${gauges}`);
  const rssEnd = rss(gatewayProc.pid);
  console.log(`gateway RSS: ${(rssStart / 2 ** 20).toFixed(0)} MB at a quarter of the run, ${(rssEnd / 2 ** 20).toFixed(0)} MB at the end; ${gauges}`);
  if (rssStart > 0 && rssEnd - rssStart > RSS_GROWTH_LIMIT) finding('leak', undefined, `RSS grew by ${((rssEnd - rssStart) / 2 ** 20).toFixed(0)} MB`);
}
stopAll();

if (VERBOSE) for (const [k, v] of [...notes].sort()) console.log(`${k.slice(0, 90).padEnd(90)} ${v.trim().split(' ').slice(0, 12).join(' ')}`);
let total = 0;
console.log('\ncategory            cases  no-response  statuses');
for (const [k, s] of [...stats].sort()) {
  total += s.cases;
  const st = [...s.statuses].sort((a, b) => a[0] - b[0]).map(([code, n]) => `${code}×${n}`).join(' ');
  console.log(`${k.padEnd(20)}${String(s.cases).padStart(5)}  ${String(s.closed).padStart(11)}  ${st}`);
}
console.log(`\n${total} cases; upstream a: ${upA.requests} requests (${upA.truncated} cut mid-body), b: ${upB.requests} (${upB.truncated}); seed ${SEED}`);
console.log(findings.length ? `${findings.length} finding(s): ${[...new Set(findings.map((f) => f.kind))].join(', ')}` : 'no findings');
upA.server.close();
upB.server.close();
process.exit(findings.length ? 1 : 0);
