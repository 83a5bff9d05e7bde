/**
 * Restoring some tables of a backup into a new side database on the same server, never into the
 * live one. The dump is read once, as a stream: its TOC (at the head of the archive) is read on
 * the way, the entries the tables need are chosen from it (task/table-selection.ts) and written
 * as pg_restore's --use-list file before the first byte reaches pg_restore (which reads that file
 * only after it read the TOC itself). The side database is built like a full restore's (its
 * missing roles and the backup's properties first, owners and privileges kept) and renamed in only
 * after the restored tables' row counts equal the manifest's; any failure drops it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { discard, streamArtifact, zstdDecompressStep } from './artifacts.ts';
import { diffRowCounts } from './core/verification.ts';
import { readToc, type TocEntry } from './dump-toc.ts';
import { ArchiveError, BackupError, CheckFailedError, InterruptedError } from './errors.ts';
import { startPipeline } from './pipeline.ts';
import { countRows } from './postgres.ts';
import { buildBeside, dropDatabase, type PreparedDatabaseRestore, renameIn } from './restore-database.ts';
import { selectTables, type TableRequest, type TableSelection } from './table-selection.ts';

/** The TOC of a larger archive than this is not something pg_dump writes; the stream is damaged. */
const MAX_TOC_BYTES = 256 * 1024 * 1024;

export interface RestoredTables {
  readonly database: string;
  /** `schema.name` of every table restored with its rows, partitions included. */
  readonly tables: readonly string[];
  readonly foreignKeysLeftOut: readonly string[];
  readonly rolesCreated: readonly string[];
}

/**
 * Holds the stream back until the archive's TOC is complete, hands it to `decide` (which may
 * throw: the stream fails with its error), then passes every byte through unchanged.
 */
class TocGate extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private open = false;

  constructor(private readonly decide: (toc: TocEntry[]) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.open) {
      done(null, chunk);
      return;
    }
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    try {
      const head = Buffer.concat(this.held);
      this.held = [head];
      const toc = readToc(head);
      if (!toc) {
        if (this.heldBytes > MAX_TOC_BYTES)
          throw new ArchiveError(`The dump's table of contents did not end within ${MAX_TOC_BYTES} bytes.`);
        done();
        return;
      }
      this.decide(toc);
      this.open = true;
      this.held = [];
      done(null, head);
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.open ? null : new ArchiveError('The dump ended before its table of contents did.'));
  }
}

/** Streams the chosen entries of the archive into `database`; the selection made from its TOC. */
async function loadTables(
  prepared: PreparedDatabaseRestore,
  request: TableRequest,
  database: string,
  env: NodeJS.ProcessEnv,
): Promise<TableSelection> {
  const { store, artifact, signal } = prepared.request;
  const dir = mkdtempSync(join(tmpdir(), 'backupctl-tables-'));
  const listFile = join(dir, 'restore.list');
  let selection: TableSelection | undefined;
  let refusal: Error | undefined;
  const gate = new TocGate((toc) => {
    const chosen = selectTables(toc, request);
    const known = artifact.tables.map((t) => `${t.schema}.${t.table}`).join(', ');
    if (chosen.missing.length > 0)
      refusal = new CheckFailedError(
        `Backup holds no ${chosen.missing.join(', ')} (its tables: ${known}); name a table as schema.name exactly as the backup holds it.`,
      );
    else if (chosen.needs.length > 0)
      refusal = new CheckFailedError(
        `Restoring ${chosen.needs.join(', ')}, which is not restored; add it with --table.`,
      );
    if (refusal) throw refusal;
    writeFileSync(listFile, chosen.dumpIds.map((id) => `${id};\n`).join(''));
    selection = chosen;
  });
  const stop = new AbortController();
  const restoring = startPipeline(
    [
      // pg_restore exits once it restored the last entry it wants, before the stream ends: tee
      // keeps reading to the end (its copy to /dev/null), so the whole artifact is still read and
      // its SHA-256 checked. Its write to the gone pg_restore fails (a socket: ECONNRESET, which
      // -p does not excuse), so it exits 1 with a warning; a real failure is pg_restore's exit
      // code or the read pipeline's.
      {
        name: 'tee',
        command: 'tee',
        args: ['--output-error=warn', '/dev/null'],
        warningExitCodes: [1],
        onStderrLine: () => false,
      },
      {
        name: 'pg_restore',
        command: 'pg_restore',
        args: ['--exit-on-error', '--no-password', `--dbname=${database}`, `--use-list=${listFile}`],
        env,
      },
    ],
    discard(),
    { source: { stream: gate, name: `the decompressed ${artifact.key}` } },
  );
  try {
    const [read, restored] = await Promise.allSettled([
      streamArtifact(
        store,
        artifact,
        [zstdDecompressStep()],
        gate,
        signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      ).catch((error: Error) => {
        restoring.fail(error);
        throw error;
      }),
      restoring.result.catch((error: Error) => {
        stop.abort(error);
        throw error;
      }),
    ]);
    if (refusal) throw refusal;
    if (signal?.aborted)
      throw signal.reason instanceof Error ? signal.reason : new InterruptedError('stopped');
    for (const outcome of [restored, read]) if (outcome.status === 'rejected') throw outcome.reason;
    if (!selection) throw new ArchiveError('The dump holds no table of contents.');
    return selection;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds the side database from the chosen tables, checks their rows, and renames it in. */
export async function restoreTables(
  prepared: PreparedDatabaseRestore,
  request: TableRequest,
): Promise<RestoredTables> {
  const target = prepared.request.database;
  let selection: TableSelection | undefined;
  const { name, rolesCreated } = await buildBeside({
    ...prepared,
    request: {
      ...prepared.request,
      load: async (database, env) => {
        selection = await loadTables(prepared, request, database, env);
      },
    },
  });
  try {
    if (!selection) throw new BackupError('the tables were not loaded');
    const chosen = new Set(selection.tables);
    const expected = prepared.request.artifact.tables.filter((t) => chosen.has(`${t.schema}.${t.table}`));
    const found = await countRows({ ...prepared.request.env, PGDATABASE: name });
    const problems = diffRowCounts(expected, found.tables);
    if (problems.length > 0)
      throw new CheckFailedError(
        `the restored tables differ from the backup (${problems.slice(0, 3).join('; ')})`,
      );
    prepared.request.logger.info('tables checked', {
      database: name,
      tables: selection.tables,
      rows: 'equal',
    });
    await renameIn(prepared.request, name);
  } catch (error) {
    await dropDatabase(prepared.request, name);
    throw error;
  }
  return {
    database: target,
    tables: selection.tables,
    foreignKeysLeftOut: selection.foreignKeysLeftOut,
    rolesCreated,
  };
}
