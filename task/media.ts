/** The media source: a tar stream of MEDIA_DIR, counting its files from tar's own listing. */
import { stat } from 'node:fs/promises';
import { ConfigError } from './errors.ts';
import { runCommand, type Step } from './pipeline.ts';

export async function assertMediaDir(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info)
    throw new ConfigError(
      `MEDIA_DIR ${dir} does not exist; set MEDIA_DIR to the media directory or unset it.`,
    );
  if (!info.isDirectory()) throw new ConfigError(`MEDIA_DIR ${dir} is not a directory.`);
}

/** Apparent size of the directory tree in bytes (for choosing the part size). */
export async function directoryBytes(dir: string): Promise<number> {
  const out = await runCommand({ name: 'du', command: 'du', args: ['--summarize', '--bytes', dir] });
  return Number(out.split('\t')[0]) || 0;
}

export interface TarListing {
  /** Non-directory entries seen so far. */
  fileCount: number;
}

/**
 * `tar` of the directory's contents. With the archive on stdout, GNU tar writes its verbose
 * listing (one escaped name a line, all starting with './') to stderr: the file count comes from
 * what tar actually archived. Exit 1 (a file changed while read) is a warning: the archive is
 * complete and the manifest records it; exit 2 is a failure.
 */
export function tarStep(dir: string, listing: TarListing): Step {
  return {
    name: 'tar',
    command: 'tar',
    args: ['--create', '--file=-', `--directory=${dir}`, '--verbose', '--numeric-owner', '.'],
    warningExitCodes: [1],
    onStderrLine: (line) => {
      if (!line.startsWith('./')) return true;
      if (!line.endsWith('/')) listing.fileCount++;
      return false;
    },
  };
}

export function zstdStep(level: number): Step {
  return { name: 'zstd', command: 'zstd', args: [`-${level}`, '-T0', '--stdout', '--quiet'] };
}
