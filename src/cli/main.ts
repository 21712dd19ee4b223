import { parseArgs } from 'node:util';
import { start } from './start.js';
import { validate } from './validate.js';
import { hashKey } from './hash-key.js';
import { OPS_COMMANDS, OPS_USAGE } from './ops-commands.js';

const USAGE = `gantry — an API gateway

Usage:
  gantry start [--config FILE] [--workers N]   run the gateway (default config: gateway.yaml)
  gantry validate FILE                         check a config; exit 0 when valid, 1 with errors
  gantry hash-key [KEY] [--password|--generate]  print the hash to store in consumers: (KEY from stdin if omitted)
${OPS_USAGE}  gantry help                                  this text

Signals: SIGHUP reloads the config, SIGTERM/SIGINT drain and exit.
`;

/** Runs a CLI command; resolves with the exit code, or undefined for a long-running command. */
export async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' } }, strict: true });
      return start({ config: values.config ?? 'gateway.yaml', workers: values.workers === undefined ? 1 : Number(values.workers) });
    }
    case 'validate': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true });
      if (positionals.length !== 1) {
        process.stderr.write('usage: gantry validate FILE\n');
        return 2;
      }
      return validate(positionals[0]!);
    }
    case 'hash-key': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        strict: true,
        options: { password: { type: 'boolean', short: 'p' }, generate: { type: 'boolean', short: 'g' } },
      });
      if (positionals.length > 1) {
        process.stderr.write('usage: gantry hash-key [KEY] [--password|--generate]\n');
        return 2;
      }
      return hashKey({ secret: positionals[0], password: values.password ?? false, generate: values.generate ?? false });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      if (Object.hasOwn(OPS_COMMANDS, command)) return OPS_COMMANDS[command]!(rest);
      process.stderr.write(`gantry: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
