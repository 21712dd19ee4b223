import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';

/** `gantry validate FILE`: every error at once, `file:line path: message`; exit 0 or 1. */
export async function validate(file: string): Promise<number> {
  const result = await loadConfig(file);
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(formatIssue(issue) + '\n');
    const n = result.issues.filter((i) => i.severity === 'error').length;
    process.stderr.write(`\n${n} error${n === 1 ? '' : 's'} in ${file}\n`);
    return 1;
  }
  for (const w of result.loaded.warnings) process.stdout.write(formatIssue(w) + '\n');
  const c = result.loaded.config;
  process.stdout.write(
    `${file}: valid (${c.routes.length} routes, ${Object.keys(c.upstreams).length} upstreams, ${c.listeners.length} listeners, hash ${result.loaded.hash})\n`,
  );
  return 0;
}
