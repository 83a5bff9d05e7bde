/**
 * backupctl: parses the command line, builds the dependencies, dispatches, and turns every
 * failure into one sentence on stderr and a non-zero exit code. Exit 0 means success only.
 */
import packageJson from '../package.json' with { type: 'json' };
import { Catalog, restoreNeeds } from './catalog.ts';
import { type CommandSpec, parseCommandLine } from './cli-args.ts';
import { executeBackup, planBackup } from './commands/backup.ts';
import { assertNoDrop, diffBackups, formatDiff, inOrder, parseDropPercent } from './commands/diff.ts';
import { formatBackupList, summarize } from './commands/list.ts';
import { describeRestore, executeRestore, planRestore } from './commands/restore.ts';
import { describeBackup, formatShow, readVerification } from './commands/show.ts';
import { checkHealth, formatReport, formatStatus } from './commands/status.ts';
import { assertVerified, runVerify } from './commands/verify.ts';
import { loadConfig } from './config.ts';
import { ENV } from './core/env-names.ts';
import { EXIT, EXIT_CODE_MEANINGS } from './core/exit-codes.ts';
import { SCHEDULED_TIERS, type ScheduledTier, TIERS, type Tier } from './core/ids.ts';
import { BackupError, ConfigError, DrillError } from './errors.ts';
import { withLock } from './lock.ts';
import { createLogger } from './log.ts';
import { createNotifier } from './notify.ts';
import { libpqEnv } from './postgres.ts';
import { S3Store } from './store/s3.ts';
import { createS3Client } from './store/s3-reader.ts';

const TIER_OPTION = {
  type: 'string',
  value: 'TIER',
  choices: SCHEDULED_TIERS,
  description: 'the tier the backup is kept in',
  default: 'daily',
} as const;
const ONLY_OPTION = {
  type: 'string',
  value: 'PART',
  choices: ['db', 'media'],
  description: 'only the database or only the media',
  default: 'both (media only when MEDIA_DIR is set)',
} as const;
const JSON_OPTION = {
  type: 'boolean',
  description: 'print the result as one JSON document on stdout',
} as const;
const DATABASE_OPTION = {
  type: 'string',
  value: 'DB',
  description: 'only this database',
  default: 'every database in the bucket',
} as const;
const BACKUP_ARGUMENT = {
  name: '<id|latest>',
  description:
    'a backup id (daily/<database>/<timestamp>) or latest: the newest complete backup of PGDATABASE holding the database dump',
} as const;

/** Every command, its argument, options and exit codes: parsing, validation and help come from here. */
export const COMMANDS = [
  {
    name: 'backup',
    summary: 'back up the database (PGDATABASE) and MEDIA_DIR into the bucket; the manifest is written last',
    options: { tier: TIER_OPTION, only: ONLY_OPTION, json: JSON_OPTION },
    exitCodes: { 1: 'the backup failed; nothing was kept under a final key' },
  },
  {
    name: 'list',
    summary: 'complete backups, newest first',
    options: {
      tier: { ...TIER_OPTION, choices: TIERS, description: 'only this tier', default: 'every tier' },
      database: DATABASE_OPTION,
      json: JSON_OPTION,
    },
    exitCodes: { 1: 'the bucket could not be read' },
  },
  {
    name: 'verify',
    summary: 'the restore drill: restore a backup into a scratch server and prove it complete',
    argument: BACKUP_ARGUMENT,
    options: { json: JSON_OPTION },
    exitCodes: {
      1: 'the backup failed a check (recorded in verification.json), or cannot be used',
      [EXIT.drillNotRun]: EXIT_CODE_MEANINGS[EXIT.drillNotRun] ?? '',
    },
  },
  {
    name: 'restore',
    summary: 'put a backup back into a database (and MEDIA_DIR), safely',
    argument: BACKUP_ARGUMENT,
    options: {
      confirm: {
        type: 'string',
        value: 'DB',
        required: true,
        description: 'the name of the database being replaced, exactly',
      },
      'target-database': {
        type: 'string',
        value: 'DB',
        description: 'restore into this database instead',
        default: 'PGDATABASE',
      },
      only: { ...ONLY_OPTION, default: 'every part the backup holds' },
      table: {
        type: 'string',
        value: 'SCHEMA.NAME',
        multiple: true,
        description:
          'only this table (with its partitions, sequences, indexes, constraints, triggers and policies), into a new side database: needs --target-database and --create',
        default: 'the whole database',
      },
      schema: {
        type: 'string',
        value: 'NAME',
        multiple: true,
        description: 'only the tables of this schema, like --table',
      },
      create: {
        type: 'boolean',
        description:
          "disaster recovery: the database does not exist on this server; create its missing roles, then the database with the backup's properties",
      },
      json: JSON_OPTION,
    },
    exitCodes: { 1: 'the restore was refused or failed; the live database is as it was' },
  },
  {
    name: 'show',
    summary:
      'what a backup holds, from its manifest: artifacts, versions, database properties, roles, tables with row counts, media, verification',
    argument: {
      ...BACKUP_ARGUMENT,
      description:
        'a backup id (daily/<database>/<timestamp>) or latest: the newest complete backup of PGDATABASE',
    },
    options: { json: JSON_OPTION },
    exitCodes: { 1: 'the backup does not exist or cannot be used' },
  },
  {
    name: 'diff',
    summary:
      'two backups of one database side by side, from their manifests: tables, row counts, roles, owners, grants, settings, sizes',
    argument: {
      name: '<id|latest> <id|latest>',
      description:
        'two backups of the same database; the older one is compared to the newer, in either order',
      count: 2,
    },
    options: {
      'fail-on-drop': {
        type: 'string',
        value: 'PCT',
        description:
          'exit 1 when any table lost more than PCT percent of its rows (a removed table lost all)',
        default: 'exit 0 whatever changed',
      },
      json: JSON_OPTION,
    },
    exitCodes: {
      1: 'with --fail-on-drop, a table lost more than PCT% of its rows; or a backup cannot be used',
    },
  },
  {
    name: 'status',
    summary: "the monitor's health verdict for each database and tier",
    options: { database: DATABASE_OPTION, json: JSON_OPTION },
    exitCodes: { 1: 'unhealthy, or no backups found' },
  },
  {
    name: 'report',
    summary: 'the weekly report, as the monitor mails it',
    options: { database: DATABASE_OPTION, json: JSON_OPTION },
    exitCodes: { 1: 'no backups found' },
  },
] as const satisfies readonly CommandSpec[];

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const verbose = argv.includes('--verbose');
  // Data on stdout, logs on stderr: `backupctl list | grep …` reads only data. JSON lines when
  // stderr is not a terminal (the container's log driver takes both streams).
  const logger = createLogger({ json: !process.stderr.isTTY, verbose, out: process.stderr });
  try {
    const line = parseCommandLine(COMMANDS, argv);
    if (line.kind === 'version') {
      process.stdout.write(`backupctl ${packageJson.version}\n`);
      return EXIT.ok;
    }
    if (line.kind === 'help') {
      process.stdout.write(`${line.text}\n`);
      return line.exitCode;
    }
    const { values } = line;
    const json = values.json === true;
    const print = (document: unknown, text: string) =>
      process.stdout.write(json ? `${JSON.stringify(document, null, 2)}\n` : `${text}\n`);
    const only = values.only as 'db' | 'media' | undefined;
    const config = loadConfig(env);
    const store = new S3Store(createS3Client(config.store), config.store);
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

    switch (line.command.name) {
      case 'backup': {
        const tier = (values.tier as ScheduledTier | undefined) ?? 'daily';
        // The plan only reads; it names the database (the server's own name for it), so the lock
        // and the backup id are always the same database's.
        const backupDeps = { ...deps, pgEnv: libpqEnv(env), ...progressInterval(env) };
        const plan = await planBackup({ tier, ...(only ? { only } : {}) }, backupDeps);
        const manifest = await withInterrupt((interrupt) =>
          withLock(lock(plan.id.database, 'backup', `${tier} backup`), (lost) =>
            executeBackup(plan, { ...backupDeps, signal: AbortSignal.any([interrupt, lost]) }),
          ),
        );
        print(manifest, manifest.id);
        return EXIT.ok;
      }
      case 'list': {
        const tier = values.tier as Tier | undefined;
        const database = values.database as string | undefined;
        const manifests = await catalog.list({
          ...(tier ? { tier } : {}),
          ...(database ? { database } : {}),
        });
        print(manifests.map(summarize), formatBackupList(manifests));
        return EXIT.ok;
      }
      case 'verify': {
        // The drill proves the database can come back: `latest` is the newest backup holding it.
        const manifest = await catalog.resolve(line.argument as string, config.database, {
          needs: restoreNeeds(),
        });
        const verification = await runVerify(manifest, deps);
        if (json) print(verification, '');
        assertVerified(verification);
        if (!json) print(verification, `Backup ${verification.id} is proven restorable.`);
        return EXIT.ok;
      }
      case 'restore': {
        const target = values['target-database'] as string | undefined;
        const notifier = createNotifier(env[ENV.alertTopicArn], logger);
        // The signal covers the plan too: it reads the globals artifact and the target server.
        await withInterrupt(async (interrupt) => {
          const restoreDeps = { ...deps, env, signal: interrupt };
          const plan = await planRestore(
            {
              ref: line.argument as string,
              confirm: values.confirm as string | undefined,
              ...(target ? { targetDatabase: target } : {}),
              ...(only ? { only } : {}),
              ...(values.create ? { create: true } : {}),
              ...(values.table ? { tables: values.table as readonly string[] } : {}),
              ...(values.schema ? { schemas: values.schema as readonly string[] } : {}),
            },
            restoreDeps,
          );
          try {
            const result = await withLock(
              lock(plan.target, 'restore', `restore of ${plan.manifest.id}`),
              (lost) => executeRestore(plan, { ...restoreDeps, signal: AbortSignal.any([interrupt, lost]) }),
            );
            const summary = describeRestore(result);
            await notifier.notify(`Restore of ${result.target} from ${result.id} succeeded`, `${summary}\n`);
            print(result, summary);
          } catch (error) {
            await notifier.notify(
              `Restore of ${plan.target} from ${plan.manifest.id} FAILED`,
              `backupctl restore ${plan.manifest.id} --confirm ${plan.target} failed:\n${(error as Error).message}\n`,
            );
            throw error;
          }
        });
        return EXIT.ok;
      }
      case 'show': {
        const manifest = await catalog.resolve(line.argument as string, config.database);
        const shown = describeBackup(manifest, await readVerification(catalog, manifest));
        print(shown, formatShow(shown));
        return EXIT.ok;
      }
      case 'diff': {
        const [first = '', second = ''] = line.positionals;
        const failOnDrop = values['fail-on-drop'] as string | undefined;
        const percent = failOnDrop === undefined ? undefined : parseDropPercent(failOnDrop);
        const [before, after] = inOrder(
          await catalog.resolve(first, config.database),
          await catalog.resolve(second, config.database),
        );
        const diff = diffBackups(before, after);
        print(diff, formatDiff(diff));
        if (percent !== undefined) assertNoDrop(diff, percent);
        return EXIT.ok;
      }
      case 'status':
      case 'report': {
        const database = values.database as string | undefined;
        const report = await checkHealth(
          catalog,
          database ? { databases: [database] } : { include: config.database ? [config.database] : [] },
          deps.now(),
          config.healthThresholds,
        );
        if (line.command.name === 'report') {
          print(report, formatReport(report, catalog.location));
          return EXIT.ok;
        }
        print(report, formatStatus(report));
        return report.healthy ? EXIT.ok : EXIT.failed;
      }
    }
  } catch (error) {
    return reportFailure(error, verbose);
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

/** BACKUPCTL_PROGRESS_SECONDS sets the progress interval (10 s by default), for tests and demos. */
function progressInterval(env: NodeJS.ProcessEnv): { progressIntervalMs?: number } {
  const seconds = Number(env.BACKUPCTL_PROGRESS_SECONDS);
  return seconds > 0 ? { progressIntervalMs: seconds * 1000 } : {};
}

/** The clock. BACKUPCTL_NOW (an ISO instant) pins it, for tests that need a known backup id. */
function clock(env: NodeJS.ProcessEnv): () => Date {
  const fixed = env.BACKUPCTL_NOW ? new Date(env.BACKUPCTL_NOW) : undefined;
  if (fixed && Number.isNaN(fixed.getTime()))
    throw new ConfigError(`BACKUPCTL_NOW is not an ISO time: ${env.BACKUPCTL_NOW}`);
  return fixed ? () => new Date(fixed) : () => new Date();
}

/** One sentence on stderr, a hint line where the fix is known, the stack only with --verbose or for a bug. */
function reportFailure(error: unknown, verbose: boolean): number {
  const known = error instanceof BackupError;
  const message = known ? error.message : `Internal error: ${(error as Error)?.message ?? error}`;
  process.stderr.write(`backupctl: ${message}\n`);
  if (known && error.hint) process.stderr.write(`hint: ${error.hint}\n`);
  if (verbose || !known) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
  if (error instanceof ConfigError) return EXIT.usage;
  return error instanceof DrillError ? EXIT.drillNotRun : EXIT.failed;
}
