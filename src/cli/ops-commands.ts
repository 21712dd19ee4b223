import { parseArgs } from 'node:util';
import { explain, formatExplanation } from './explain.js';
import { diff } from './diff.js';
import { init } from './init.js';
import { importOpenApiCommand } from './import-openapi.js';

/** Usage lines of the operations commands (appended to `gantry help`). */
export const OPS_USAGE = `  gantry explain FILE METHOD URL [-H 'Name: v']… [--listener NAME] [--json]
                                               which route matches and why, near misses, policies, upstream
  gantry diff OLD NEW                          semantic difference; exit 1 when a change would shadow a route
  gantry init [FILE] [--force]                 write a commented starter config (default gateway.yaml)
  gantry import openapi SPEC [-o FILE] [--upstream NAME] [--target URL] [--prefix /p]
                                               generate routes from an OpenAPI 3 document
`;

type Command = (args: string[]) => Promise<number>;

/**
 * The operations commands by name; `main` dispatches here for names it does not own.
 *
 * @example
 *   await OPS_COMMANDS.explain(['gateway.yaml', 'GET', '/api/v1/products/7', '-H', 'accept-version: 2']);
 */
export const OPS_COMMANDS: Record<string, Command> = {
  async explain(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { header: { type: 'string', short: 'H', multiple: true }, listener: { type: 'string', short: 'l' }, json: { type: 'boolean' } },
    });
    if (positionals.length !== 3) {
      process.stderr.write("usage: gantry explain FILE METHOD URL [-H 'Name: v']…\n");
      return 2;
    }
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const i = h.indexOf(':');
      if (i <= 0) {
        process.stderr.write(`gantry explain: header '${h}' is not 'Name: value'\n`);
        return 2;
      }
      headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
    }
    const [file, method, url] = positionals as [string, string, string];
    const e = await explain(file, { method, url, headers, ...(values.listener ? { listener: values.listener } : {}) });
    if ('issues' in e) {
      process.stderr.write(e.issues.join('\n') + '\n');
      return 1;
    }
    process.stdout.write(values.json ? JSON.stringify(e, null, 2) + '\n' : formatExplanation(e));
    return 0;
  },
  async diff(args) {
    const { positionals } = parseArgs({ args, allowPositionals: true, strict: true });
    if (positionals.length !== 2) {
      process.stderr.write('usage: gantry diff OLD NEW\n');
      return 2;
    }
    return diff(positionals[0]!, positionals[1]!);
  },
  async init(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: { force: { type: 'boolean', short: 'f' } } });
    return init(positionals[0] ?? 'gateway.yaml', values.force ?? false);
  },
  async import(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { output: { type: 'string', short: 'o' }, upstream: { type: 'string' }, target: { type: 'string' }, prefix: { type: 'string' } },
    });
    if (positionals[0] !== 'openapi' || positionals.length !== 2) {
      process.stderr.write('usage: gantry import openapi SPEC [-o FILE] [--upstream NAME] [--target URL] [--prefix /p]\n');
      return 2;
    }
    return importOpenApiCommand(positionals[1]!, values.output, { upstream: values.upstream, target: values.target, prefix: values.prefix });
  },
};
