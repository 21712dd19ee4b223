#!/usr/bin/env node
// npm run fuzz:config — adversarial config files against `gantry validate` and reload.
// Seeds are the repo's valid configs (examples/, bench/, full configs in docs/*.md); each
// case mutates one (structure, YAML syntax, values, references and plugins) and checks that
// validation answers within a bound, exits 0 or 1, and reports every error as
// `FILE:LINE path: message` without a stack trace or an internal error. A sample is also
// run through the built CLI, and a sample of invalid configs is sent to a running gateway's
// reload, which must keep serving. Bounded (FUZZ_SECONDS, default 90); prints its seed.
//
//   FUZZ_SEED=123456 FUZZ_SECONDS=30 npm run fuzz:config   # replay a run
//   FUZZ_SEED=123456 FUZZ_CASE=417 npm run fuzz:config     # only case 417 of that run
//
// Exits 1 on any finding; findings (the config, its extra files, the output) are kept in
// the work folder it prints.
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parse } from 'yaml';
import { fixedCases, prng, randomCase } from './fuzz-config/mutations.mjs';
import { reloadCheck } from './fuzz-config/reload.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 90);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const ONLY = process.env.FUZZ_CASE !== undefined ? Number(process.env.FUZZ_CASE) : undefined;
const CASE_MS = 10_000; // a case must answer within this
const HEAP_MB = 1024; // worker heap limit: more is a finding
const SPAWN_EVERY = 15; // one case in N also runs through `node dist/cli.js validate`
const RELOAD_CASES = 40;
const started = Date.now();
const deadline = started + SECONDS * 1000;
const reloadStart = deadline - Math.min(15_000, SECONDS * 200);

const WORK = mkdtempSync(join(tmpdir(), 'gantry-fuzz-config-'));
const log = (s) => process.stdout.write(`${s}\n`);
log(`fuzz:config seed ${SEED} (replay: FUZZ_SEED=${SEED} npm run fuzz:config), ${SECONDS}s, work folder ${WORK}`);

process.env.FUZZ_SET_VAR = '8080';
process.env.FUZZ_YAML_VAR = '{ a: 1 }';
delete process.env.UNSET_FUZZ_VAR;
delete process.env.UNSET_FUZZ_VAR2;
process.chdir(WORK);

// ---- in-process validator (a worker thread: a hang or an OOM ends the worker, not us) ----
let worker;
let pending;
function startWorker() {
  worker = new Worker(new URL('./fuzz-config/worker.mjs', import.meta.url), {
    workerData: { validateModule: pathToFileURL(join(ROOT, 'dist/cli/validate.js')).href },
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB },
    stdout: true,
    stderr: true,
  });
  const ready = new Promise((ok) => worker.once('message', ok));
  worker.on('message', (m) => m.id !== undefined && pending?.resolve(m));
  worker.on('error', (e) => pending?.resolve({ crashed: `${e.name}: ${e.message}` }));
  worker.on('exit', (code) => pending?.resolve({ crashed: `worker exited ${code}` }));
  return ready;
}
async function runInProcess(id, file) {
  const result = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ hung: true }), CASE_MS);
    pending = { resolve: (m) => (clearTimeout(timer), resolve(m)) };
    worker.postMessage({ id, file: relative(WORK, file) });
  });
  pending = undefined;
  if (result.hung || result.crashed) {
    worker.removeAllListeners();
    await worker.terminate();
    await startWorker();
  }
  return result;
}

function runSpawned(file) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--max-old-space-size=' + HEAP_MB, join(ROOT, 'dist/cli.js'), 'validate', relative(WORK, file)], { cwd: WORK, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_MS + 2000); // + process start
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr, ms: performance.now() - t0, hung: signal === 'SIGKILL' });
    });
  });
}

// ---- checks ----
const ISSUE = /^(?<file>.+?)(?::(?<line>\d+))?(?<rest>(?: .*)?: .*)$/s;
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const textOf = (t) => (Buffer.isBuffer(t) ? t.toString('latin1') : t);

/** One issue line: names the file, and a line in it unless the issue has no place in it. */
function lineOk(issue, text, display) {
  if (!issue.startsWith(display)) return false;
  const m = ISSUE.exec(`${display}${issue.slice(display.length)}`);
  if (!m || m.groups.file !== display) return false;
  const lines = textOf(text).split(/\r?\n|\r/).length;
  if (m.groups.line !== undefined) return Number(m.groups.line) >= 1 && Number(m.groups.line) <= lines + 1;
  // No line: only for a missing top-level key, or a file that could not be read (an empty file is line 1).
  const rest = m.groups.rest;
  return /^ [A-Za-z]+: is required$/.test(rest) || /^: (cannot read config|the config is larger than)/.test(rest);
}

const INTERNAL = [/\n\s+at \S.*:\d+:\d+\)?/, /\b(TypeError|ReferenceError|RangeError|Maximum call stack|heap out of memory)\b/, /\bundefined\b/, /\[object Object\]/, /\bNaN\b/, /Symbol\(/, /parseAllDocuments|YAML\.\w+\(/];

function check(c, r, file, via) {
  const problems = [];
  const display = relative(WORK, file);
  if (r.hung) return [`${via}: no answer within ${CASE_MS / 1000} s`];
  if (r.crashed) return [`${via}: ${r.crashed}`];
  if (r.thrown) return [`${via}: validate threw: ${r.thrown.slice(0, 500)}`];
  if (r.code !== 0 && r.code !== 1) problems.push(`${via}: exit ${r.code}`);
  const output = r.stdout + r.stderr;
  const input = textOf(c.text) + Object.values(c.files ?? {}).join('\n');
  for (const re of INTERNAL) if (re.test(output) && !re.test(input)) problems.push(`${via}: output matches ${re}: ${output.match(re)[0].slice(0, 200)}`);
  if (r.heapMb > HEAP_MB / 2) problems.push(`${via}: heap ${Math.round(r.heapMb)} MB after validating`);
  if (r.code === 1) {
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    const summary = lines.pop() ?? '';
    const m = new RegExp(`^(\\d+) errors? in ${escape(display)}$`).exec(summary);
    if (!m) problems.push(`${via}: last line is not 'N errors in FILE': ${summary.slice(0, 200)}`);
    const errors = lines.filter((l) => !/: warning: /.test(l));
    if (m && Number(m[1]) !== errors.length) problems.push(`${via}: summary says ${m[1]} errors, ${errors.length} listed`);
    if (errors.length === 0) problems.push(`${via}: exit 1 without an error`);
    for (const l of lines) if (!lineOk(l, c.text, display)) problems.push(`${via}: malformed issue: ${l.slice(0, 300)}`);
    if (c.mentions && !r.stderr.includes(c.mentions)) problems.push(`${via}: errors do not name '${c.mentions}'`);
    if (c.expect === 'valid') problems.push(`${via}: expected valid, got: ${r.stderr.slice(0, 500)}`);
  } else if (r.code === 0) {
    if (!r.stdout.includes(': valid (')) problems.push(`${via}: exit 0 without 'valid'`);
    if (c.expect === 'invalid') problems.push(`${via}: an invalid config was accepted: ${r.stdout.slice(0, 300)}`);
  }
  return problems;
}

// ---- seeds ----
function seedCandidates() {
  const out = [];
  const walk = (d) => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  for (const f of [...walk(join(ROOT, 'examples')), ...readdirSync(join(ROOT, 'bench')).map((n) => join(ROOT, 'bench', n))]) {
    if (/\.ya?ml$/.test(f)) out.push({ name: relative(ROOT, f), text: readFileSync(f, 'utf8') });
  }
  for (const n of readdirSync(join(ROOT, 'docs')).filter((n) => n.endsWith('.md'))) {
    const md = readFileSync(join(ROOT, 'docs', n), 'utf8');
    let i = 0;
    for (const m of md.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      i++;
      if (/^version: 1$/m.test(m[1]) && /^routes:/m.test(m[1])) out.push({ name: `docs/${n} block ${i}`, text: m[1] });
    }
  }
  return out;
}

// ---- run ----
await startWorker();
const candidates = seedCandidates();
const seeds = [];
for (const [i, s] of candidates.entries()) {
  const file = join(WORK, 'seeds', String(i), 'gateway.yaml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, s.text);
  const r = await runInProcess(`seed${i}`, file);
  if (r.code === 0) {
    try {
      seeds.push({ ...s, value: parse(s.text) });
    } catch {}
  }
}
log(`seeds: ${seeds.length} of ${candidates.length} candidates validate: ${seeds.map((s) => s.name).join(', ')}`);
if (seeds.length === 0) throw new Error('no valid seed config');

const rand = prng(SEED);
const api = pathToFileURL(join(ROOT, 'dist/index.js')).href;
const counts = {};
const findings = [];
const reloadSample = [];
let spawned = 0;
let spawnInFlight;
const fixed = fixedCases(seeds, { index: 'fixed', api });
const count = (c, key) => ((counts[c.category] ??= { cases: 0, invalid: 0, valid: 0, findings: 0, ops: {} }), (counts[c.category][key] += 1));

async function record(c, file, problems, r) {
  count(c, 'findings');
  const dir = dirname(file);
  writeFileSync(join(dir, 'finding.txt'), `${c.category}: ${c.name}\n${problems.join('\n')}\n\n--- stdout\n${r?.stdout ?? ''}\n--- stderr\n${r?.stderr ?? ''}\n`);
  findings.push({ c, problems, dir });
  log(`FINDING case ${c.index} (${c.category}: ${c.name}): ${problems.join(' | ').slice(0, 600)}\n  kept in ${dir}`);
}

for (let index = 0; Date.now() < reloadStart; index++) {
  const isFixed = index < fixed.length;
  // Every random case is generated, so that case N is the same whether or not N-1 ran.
  const c = isFixed ? { ...fixed[index], index } : { ...randomCase(seeds, rand, { index, api }), index };
  if (ONLY !== undefined && index !== ONLY) {
    if (index > ONLY) break;
    continue;
  }
  const dir = join(WORK, 'cases', String(index));
  const file = join(dir, 'gateway.yaml');
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(c.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  writeFileSync(file, c.text);
  count(c, 'cases');
  const op = c.name.split(' of ')[0];
  counts[c.category].ops[op] = (counts[c.category].ops[op] ?? 0) + 1;
  const r = await runInProcess(index, file);
  if (r.code === 0 || r.code === 1) count(c, r.code === 0 ? 'valid' : 'invalid');
  const problems = check(c, r, file, 'in-process');
  if (problems.length > 0) await record(c, file, problems, r);
  if (r.code === 1 && Buffer.byteLength(textOf(c.text)) < 1_000_000) {
    if (isFixed || reloadSample.length < RELOAD_CASES) reloadSample.push(c);
    else if (rand.chance(0.1)) reloadSample[fixed.length + rand.int(RELOAD_CASES - fixed.length)] = c;
  }
  const spawnIt = !spawnInFlight && (isFixed || index % SPAWN_EVERY === 0 || ONLY !== undefined);
  if (spawnIt) {
    spawned++;
    spawnInFlight = runSpawned(file).then(async (s) => {
      const sp = check(c, s, file, 'cli');
      if (s.code !== r.code && !r.hung && !s.hung) sp.push(`cli exit ${s.code} but in-process ${r.code}`);
      if (problems.length === 0 && sp.length > 0) await record(c, file, sp, s);
      else if (problems.length === 0) rmSync(dir, { recursive: true, force: true });
      spawnInFlight = undefined;
    });
    if (isFixed || ONLY !== undefined) await spawnInFlight;
  } else if (problems.length === 0) rmSync(dir, { recursive: true, force: true });
}
await spawnInFlight;
worker.removeAllListeners();
await worker.terminate();

let reload = { findings: [], counts: { post: 0, sighup: 0 } };
if (ONLY === undefined) {
  reload = await reloadCheck({ root: ROOT, dir: join(WORK, 'reload'), cases: reloadSample, lineOk, deadline: Date.now() + 30_000, log });
  for (const f of reload.findings) findings.push({ c: f.case, problems: f.problems, dir: join(WORK, 'reload') });
}

log(`\ncases by category (valid / invalid as validated; findings):`);
for (const [cat, n] of Object.entries(counts)) {
  log(`  ${cat.padEnd(11)} ${String(n.cases).padStart(5)} cases  ${n.valid} valid  ${n.invalid} invalid  ${n.findings} findings   ${Object.entries(n.ops).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
log(`  cli spawns ${spawned}; reloads ${reload.counts.post} via POST /api/reload, ${reload.counts.sighup} via SIGHUP (${reload.findings.length} findings)`);
log(`${findings.length} finding${findings.length === 1 ? '' : 's'} in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}${findings.length ? `; kept in ${WORK}` : ''}`);
if (findings.length === 0) rmSync(WORK, { recursive: true, force: true });
process.exit(findings.length > 0 ? 1 : 0);
