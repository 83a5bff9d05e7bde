/**
 * backupctl: parses the command line, builds the dependencies, dispatches, and turns every
 * failure into one sentence on stderr and a non-zero exit code. Exit 0 means success only.
 */
import { parseArgs } from 'node:util';
import packageJson from '../package.json' with { type: 'json' };
import { Catalog } from './catalog.ts';
import { executeBackup, planBackup } from './commands/backup.ts';
import { formatBackupList, summarize } from './commands/list.ts';
import { executeRestore, planRestore } from './commands/restore.ts';
import { checkHealth, formatReport, formatStatus } from './commands/status.ts';
import { assertVerified, runVerify } from './commands/verify.ts';
import { loadConfig } from './config.ts';
import { isTier, SCHEDULED_TIERS, TIERS, type Tier } from './core/ids.ts';
import { BackupError, ConfigError } from './errors.ts';
import { withLock } from './lock.ts';
import { createLogger } from './log.ts';
import { createNotifier } from './notify.ts';
import { libpqEnv } from './postgres.ts';
import { S3Store } from './store/s3.ts';
import { answerTimeoutFromEnv, createS3Client } from './store/s3-reader.ts';

const USAGE = `usage:
  backupctl backup  [--tier daily|weekly|monthly] [--only db|media]
  backupctl list    [--tier T] [--database DB] [--json]
  backupctl verify  <id|latest> [--json]
  backupctl restore <id|latest> --confirm <db> [--target-database <db>] [--only db|media]
  backupctl status  [--database DB] [--json]    # exit 1 when unhealthy
  backupctl report  [--database DB]             # the weekly report
options: --verbose (stack traces and debug logs)`;

/** The options each command takes, besides --verbose and --help; any other is a usage error. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  backup: ['tier', 'only'],
  list: ['tier', 'database', 'json'],
  verify: ['json'],
  restore: ['confirm', 'target-database', 'only'],
  status: ['database', 'json'],
  report: ['database'],
};

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const verbose = argv.includes('--verbose');
  const json = argv.includes('--json');
  // With --json, stdout carries the one JSON document; logs go to stderr.
  const logger = createLogger({
    json: json || !process.stdout.isTTY,
    verbose,
    ...(json ? { out: process.stderr } : {}),
  });
  try {
    const [command, ...rest] = argv;
    const { values, positionals, tokens } = parseArgs({
      args: rest,
      allowPositionals: true,
      tokens: true,
      options: {
        tier: { type: 'string' },
        only: { type: 'string' },
        database: { type: 'string' },
        confirm: { type: 'string' },
        'target-database': { type: 'string' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
    if (command === undefined || command === 'help' || values.help) {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    const allowed = COMMAND_OPTIONS[command];
    if (!allowed) throw new ConfigError(`Unknown command: ${command}. ${USAGE}`);
    const foreign = Object.keys(values).filter((o) => o !== 'verbose' && !allowed.includes(o));
    if (foreign.length > 0) {
      throw new ConfigError(
        `${command} does not take ${foreign.map((o) => `--${o}`).join(', ')}; it takes ${allowed.map((o) => `--${o}`).join(', ')}.`,
      );
    }
    checkOptionValues(tokens);
    const only = values.only;
    if (only !== undefined && only !== 'db' && only !== 'media') {
      throw new ConfigError(`--only must be db or media, got: ${only}`);
    }
    const config = loadConfig(env);
    const s3 = { ...config.store, ...answerTimeoutFromEnv(env) };
    const store = new S3Store(createS3Client(s3), s3);
    const now = clock(env);
    const catalog = new Catalog(store, config.store.prefix, logger, {
      replicationWindowHours: config.replicationWindowHours,
      now,
    });
    const deps = { config, store, catalog, logger, toolVersion: packageJson.version, now };
    const lock = (database: string, operation: 'backup' | 'restore', detail: string) => ({
      store,
      prefix: config.store.prefix,
      database,
      operation,
      detail,
      logger,
    });
    const onePositional = (what: string) => {
      if (positionals.length !== 1)
        throw new ConfigError(`${command} takes one ${what}, got: ${positionals.join(' ') || 'none'}`);
      return positionals[0] as string;
    };

    switch (command) {
      case 'backup': {
        if (positionals.length > 0)
          throw new ConfigError(`backup takes no arguments, got: ${positionals.join(' ')}`);
        const tier = values.tier ?? 'daily';
        if (!(SCHEDULED_TIERS as readonly string[]).includes(tier)) {
          throw new ConfigError(`--tier must be one of ${SCHEDULED_TIERS.join(', ')}, got: ${tier}`);
        }
        // The plan only reads; it names the database (the server's own name for it), so the lock
        // and the backup id are always the same database's.
        const backupDeps = { ...deps, pgEnv: libpqEnv(env) };
        const plan = await planBackup({ tier: tier as Tier, ...(only ? { only } : {}) }, backupDeps);
        await withInterrupt((interrupt) =>
          withLock(lock(plan.id.database, 'backup', `${tier} backup`), (lost) =>
            executeBackup(plan, { ...backupDeps, signal: AbortSignal.any([interrupt, lost]) }),
          ),
        );
        return 0;
      }
      case 'list': {
        const tier = values.tier;
        if (tier !== undefined && !isTier(tier))
          throw new ConfigError(`--tier must be one of ${TIERS.join(', ')}, got: ${tier}`);
        const filter = {
          ...(tier ? { tier } : {}),
          ...(values.database ? { database: values.database } : {}),
        };
        const manifests = await catalog.list(filter);
        process.stdout.write(
          json
            ? `${JSON.stringify(manifests.map(summarize), null, 2)}\n`
            : `${formatBackupList(manifests)}\n`,
        );
        return 0;
      }
      case 'verify': {
        // The drill proves the database can come back: `latest` is the newest backup holding it.
        const manifest = await catalog.resolve(onePositional('backup id or latest'), config.database, {
          needs: ['postgres'],
        });
        const verification = await runVerify(manifest, deps);
        if (json) process.stdout.write(`${JSON.stringify(verification, null, 2)}\n`);
        assertVerified(verification);
        return 0;
      }
      case 'restore': {
        const plan = await planRestore(
          {
            ref: onePositional('backup id or latest'),
            confirm: values.confirm,
            ...(values['target-database'] ? { targetDatabase: values['target-database'] } : {}),
            ...(only ? { only } : {}),
          },
          { ...deps, env },
        );
        const notifier = createNotifier(env.ALERT_TOPIC_ARN, logger);
        try {
          const result = await withLock(lock(plan.target, 'restore', `restore of ${plan.manifest.id}`), () =>
            executeRestore(plan, deps),
          );
          await notifier.notify(
            `Restore of ${result.target} from ${result.id} succeeded`,
            `Database ${result.target} was restored from backup ${result.id} in ${result.seconds} s.\n` +
              `Safety backup taken first: ${result.safetyBackupId}\n` +
              (result.previousMediaDir
                ? `The replaced media directory is kept at ${result.previousMediaDir}\n`
                : '') +
              `To undo: backupctl restore ${result.safetyBackupId} --confirm ${result.target}\n`,
          );
        } catch (error) {
          await notifier.notify(
            `Restore of ${plan.target} from ${plan.manifest.id} FAILED`,
            `backupctl restore ${plan.manifest.id} --confirm ${plan.target} failed:\n${(error as Error).message}\n`,
          );
          throw error;
        }
        return 0;
      }
      case 'status':
      case 'report': {
        const report = await checkHealth(
          catalog,
          values.database
            ? { databases: [values.database] }
            : { include: config.database ? [config.database] : [] },
          deps.now(),
          config.healthThresholds,
        );
        if (command === 'report') process.stdout.write(`${formatReport(report, catalog.location)}\n`);
        else
          process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
        return command === 'status' && !report.healthy ? 1 : 0;
      }
      default:
        throw new ConfigError(`Unknown command: ${command}.`);
    }
  } catch (error) {
    return reportFailure(error, verbose);
  }
}

/**
 * Refuses what parseArgs lets through: an option given more than once (it would keep the last
 * value silently: `--tier weekly --tier monthly`) and an empty value (`--target-database=`).
 */
function checkOptionValues(tokens: ReturnType<typeof parseArgs>['tokens'] = []): void {
  const counts = new Map<string, number>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === 'verbose') continue;
    counts.set(token.name, (counts.get(token.name) ?? 0) + 1);
    if (token.value === '') throw new ConfigError(`--${token.name} needs a value, got an empty one.`);
  }
  const repeated = [...counts].filter(([, count]) => count > 1);
  if (repeated.length > 0) {
    throw new ConfigError(
      `${repeated.map(([name, count]) => `--${name} is given ${count} times`).join(', ')}; give each option once.`,
    );
  }
}

/**
 * Runs `fn` with a signal that fires on SIGTERM (ECS stopping the task) or SIGINT. Listening
 * until `fn` is done, not once: a second Ctrl-C during the cleanup must not kill the process
 * before it stopped its children, aborted the upload and released the lock.
 */
async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.on('SIGTERM', stop).on('SIGINT', stop);
  try {
    return await fn(abort.signal);
  } finally {
    process.off('SIGTERM', stop).off('SIGINT', stop);
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
  return error instanceof ConfigError || parseError ? 2 : 1;
}
