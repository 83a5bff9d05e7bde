/**
 * backupctl: parses the command line, builds the dependencies, dispatches, and turns every
 * failure into one sentence on stderr and a non-zero exit code. Exit 0 means success only.
 */
import { parseArgs } from 'node:util';
import packageJson from '../package.json' with { type: 'json' };
import { findBackups } from './catalog.ts';
import { runBackup } from './commands/backup.ts';
import { formatBackupList, summarize } from './commands/list.ts';
import { loadConfig } from './config.ts';
import { isTier, SCHEDULED_TIERS, TIERS, type Tier } from './core/ids.ts';
import { BackupError, ConfigError } from './errors.ts';
import { createLogger } from './log.ts';
import { createS3Client, S3Store } from './store/s3.ts';

const USAGE = `usage:
  backupctl backup  [--tier daily|weekly|monthly] [--only db|media]
  backupctl list    [--tier T] [--database DB] [--json]
options: --verbose (stack traces and debug logs)`;

const COMMANDS = ['backup', 'list'];

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const verbose = argv.includes('--verbose');
  const logger = createLogger({ json: !process.stdout.isTTY, verbose });
  try {
    const [command, ...rest] = argv;
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        tier: { type: 'string' },
        only: { type: 'string' },
        database: { type: 'string' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
    const only = values.only;
    if (only !== undefined && only !== 'db' && only !== 'media') {
      throw new ConfigError(`--only must be db or media, got: ${only}`);
    }
    if (command === undefined || command === 'help' || values.help) {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (!COMMANDS.includes(command)) throw new ConfigError(`Unknown command: ${command}. ${USAGE}`);
    const config = loadConfig(env);
    const store = new S3Store(createS3Client(config.store), config.store);
    switch (command) {
      case 'backup': {
        if (positionals.length > 0)
          throw new ConfigError(`backup takes no arguments, got: ${positionals.join(' ')}`);
        const tier = values.tier ?? 'daily';
        if (!(SCHEDULED_TIERS as readonly string[]).includes(tier)) {
          throw new ConfigError(`--tier must be one of ${SCHEDULED_TIERS.join(', ')}, got: ${tier}`);
        }
        const abort = new AbortController();
        const stop = () => abort.abort();
        process.once('SIGTERM', stop).once('SIGINT', stop);
        try {
          await runBackup(
            { tier: tier as Tier, ...(only ? { only } : {}) },
            {
              config,
              store,
              logger,
              toolVersion: packageJson.version,
              now: clock(env),
              signal: abort.signal,
            },
          );
        } finally {
          process.off('SIGTERM', stop).off('SIGINT', stop);
        }
        return 0;
      }
      case 'list': {
        const tier = values.tier;
        if (tier !== undefined && !isTier(tier))
          throw new ConfigError(`--tier must be one of ${TIERS.join(', ')}, got: ${tier}`);
        const manifests = await findBackups(
          store,
          config.store.prefix,
          { ...(tier ? { tier } : {}), ...(values.database ? { database: values.database } : {}) },
          logger,
        );
        process.stdout.write(
          values.json
            ? `${JSON.stringify(manifests.map(summarize), null, 2)}\n`
            : `${formatBackupList(manifests)}\n`,
        );
        return 0;
      }
      default:
        throw new ConfigError(`Unknown command: ${command}.`);
    }
  } catch (error) {
    return reportFailure(error, verbose);
  }
}

/** The clock. BACKUPCTL_NOW (an ISO instant) pins it, for tests that need a known backup id. */
function clock(env: NodeJS.ProcessEnv): () => Date {
  const fixed = env.BACKUPCTL_NOW ? new Date(env.BACKUPCTL_NOW) : undefined;
  if (fixed && Number.isNaN(fixed.getTime()))
    throw new ConfigError(`BACKUPCTL_NOW is not an ISO time: ${env.BACKUPCTL_NOW}`);
  return fixed ? () => new Date(fixed) : () => new Date();
}

function reportFailure(error: unknown, verbose: boolean): number {
  const known = error instanceof BackupError;
  const parseError = (error as NodeJS.ErrnoException)?.code?.startsWith('ERR_PARSE_ARGS');
  const message =
    known || parseError ? (error as Error).message : `Internal error: ${(error as Error)?.message ?? error}`;
  process.stderr.write(`backupctl: ${message}\n`);
  if (verbose || !(known || parseError)) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
  return known ? error.exitCode : parseError ? 2 : 1;
}
