// The table bench:instructions prints and writes to RUN/table.md.
import { spawnSync } from 'node:child_process';
import { COMPILE_WARN, CONNECTIONS, N, ONLY, ROOT, RUN, UPSTREAM, WARM, WINDOWS, env } from './settings.mjs';

function version(cmd, args) {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.trim() || '?';
}

/**
 * The markdown report: one line per row (instructions per request, compiler and major-GC
 * shares, ratios to the node ceiling and the bare proxy route), warnings, how to reproduce.
 *
 * @example
 *   const table = report(rows, results, skipped, ceiling);
 */
export function report(rows, results, skipped, ceiling) {
  const base = rows.find((r) => r.baseline && results.has(r.name));
  const ceil = ceiling && results.has(ceiling.name) ? ceiling : null;
  const knobs = [ONLY ? `ONLY='${env.ONLY}'` : '', `WARM=${WARM}`, `N=${N}`, `WINDOWS=${WINDOWS}`, CONNECTIONS !== 50 ? `CONNECTIONS=${CONNECTIONS}` : ''].filter(Boolean);
  const commit = version('git', ['-C', ROOT, 'describe', '--always', '--dirty']);
  const lines = [
    `instructions per request under callgrind: warm ${WARM} requests, then ${N} measured on the same ${CONNECTIONS} keep-alive connections; ` +
      `upstream ${UPSTREAM}; node ${process.version}; ${version('valgrind', ['--version'])}; commit ${commit}`,
    '',
    '| row | instructions/request (k) | optimizing compiler | major GC | vs node ceiling | vs bare proxy |',
    '|---|--:|--:|--:|--:|--:|',
  ];
  for (const row of rows) {
    const r = results.get(row.name);
    if (!r) {
      lines.push(`| ${row.name} | skipped: ${skipped.get(row.name)} | | | | |`);
      continue;
    }
    const ratio = (other) => (other ? (results.get(other.name).perRequest / r.perRequest).toFixed(2) : 'n/a');
    lines.push(`| ${row.name} | ${(r.perRequest / 1000).toFixed(1)} | ${(100 * r.compileShare).toFixed(1)}% | ${(100 * r.gcShare).toFixed(1)}% | ${ratio(ceil)} | ${ratio(base)} |`);
  }
  lines.push(
    '',
    "Ratios are predicted req/s ratios (the other row's instructions/request over this row's; higher is faster). " +
      'A major GC lands in a window or not: compare rows with similar major-GC shares, or raise N.',
  );
  for (const [name, r] of results) {
    if (r.compileShare > COMPILE_WARN) {
      lines.push(
        `**Not steady:** '${name}' spent ${(100 * r.compileShare).toFixed(1)}% of its last window (${r.window} of ${WINDOWS}) in V8's optimizing compiler (> ${100 * COMPILE_WARN}%); its count is inflated: raise WARM.`,
      );
    } else if (r.window > 1) lines.push(`'${name}': measured in window ${r.window} (the earlier ones were still compiling).`);
    if (r.newConnections) lines.push(`**Warning:** '${name}' opened ${r.newConnections} new connections during the window.`);
  }
  lines.push(
    '',
    'Reproduce:',
    '',
    '```sh',
    `${knobs.join(' ')} npm run bench:instructions`,
    ...rows.filter((r) => r.command).map((r) => `# ${r.name}: ${r.command}`),
    '```',
    '',
    `Profiles: ${RUN}/*.callgrind.<window> (callgrind_annotate; JIT code names in the matching .map)`,
  );
  return lines.join('\n');
}
