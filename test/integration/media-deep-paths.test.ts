/**
 * Media trees deeper than PATH_MAX: 25 nested directories of 203-character names (over 5,000
 * bytes of path) back up, verify and restore equal to the source, and a failed media restore of
 * such a tree leaves no staging directory behind. The trees are built and compared by tools that
 * walk relative to their working directory (bash's cd, find, tar), since no absolute path works.
 */
import { chmodSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl } from '../support/backupctl.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'deep-media';
const DEPTH = 25;
const NAME_LENGTH = 203;

let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;

const env = () => ({ ...pg.env('app'), ...s3.env(BUCKET), MEDIA_DIR: media });
let restores = 0;
/** A restore at its own instant: each takes a pre-restore backup, whose id is the second it ran. */
const restore = (id: string) =>
  backupctl(['restore', id, '--only', 'media', '--confirm', 'app'], {
    env: { ...env(), BACKUPCTL_NOW: new Date(Date.UTC(2030, 0, 1, 0, 0, ++restores)).toISOString() },
  });
const q = (path: string) => `'${path.replaceAll("'", `'\\''`)}'`;

/**
 * Builds the deep tree with relative `cd`s: a file at every level, one with odd bytes and mode at
 * the bottom, and a symlink at the top (bsdtar 3.6 cannot set the times of a symlink beyond
 * PATH_MAX: such a restore fails, loudly and cleanly).
 */
async function makeDeepTree(root: string): Promise<void> {
  await sh(`set -e; mkdir -p ${q(root)}; cd ${q(root)}; echo top > top.txt; ln -s top.txt link
    for i in $(seq ${DEPTH}); do
      d=$(printf "%0${NAME_LENGTH}d" "$i"); mkdir "$d"; cd "$d"; echo "level $i" > "file-$i.txt"
    done
    head -c 100000 /dev/urandom > 'deepest ñ.bin'; chmod 600 'deepest ñ.bin'`);
}

/**
 * Everything a restore must bring back, walked from inside the tree: each entry's type, mode,
 * relative path, size and mtime (files) or link target, and one hash over all contents.
 */
async function treeFingerprint(root: string): Promise<string> {
  return sh(`set -e; cd ${q(root)}
    find . -mindepth 1 \\( -type d -printf 'd %m %P\\n' \\) -o -printf '%y %m %P %s %Ts %l\\n' | LC_ALL=C sort
    tar --create --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --file=- . | sha256sum`);
}

const stagingDirs = () => readdirSync(work).filter((name) => name.includes('.restoring-'));

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await pg.psql('postgres', 'CREATE DATABASE app');
  await pg.psql('app', 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
  work = mkdtempSync(join(tmpdir(), 'spb-deep-'));
  chmodSync(work, 0o755);
  media = join(work, 'media');
  await makeDeepTree(media);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  // rm walks with openat; Node's rmSync would fail with ENAMETOOLONG here.
  if (work) await sh(`rm -rf --one-file-system ${q(work)}`);
});

describe('media paths longer than PATH_MAX', () => {
  let manifest: Manifest;

  it('backs up, verifies and restores the deep tree equal to the source, leaving no staging directory', async () => {
    const source = await treeFingerprint(media);
    expect(source.length).toBeGreaterThan(DEPTH * NAME_LENGTH); // the listing really holds the long paths
    const backup = await backupctl(['backup'], { env: env() });
    expect(backup.code, backup.stderr).toBe(0);
    const id = String(backup.logs.find((l) => l.message === 'backup finished')?.id);
    manifest = JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString());
    const verify = await backupctl(['verify', id], { env: env() });
    expect(verify.code, verify.stderr).toBe(0);

    // The disaster: the deepest subtree is gone, and a stranger's file appeared.
    await sh(`cd ${q(media)} && rm -rf --one-file-system ./0*1 && echo intruder > intruder.txt`);
    expect(await treeFingerprint(media)).not.toBe(source);
    const restored = await restore(id);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await treeFingerprint(media)).toBe(source);
    expect(stagingDirs()).toEqual([]);
  });

  it('removes the staging directory of the deep tree when the restore fails after extracting it', async () => {
    // The archive extracts completely, but the manifest expects one more file: the check fails
    // with the whole deep tree in the staging directory.
    const key = `${manifest.id}/manifest.json`;
    const original = await getObjectBytes(s3.client, BUCKET, key);
    const lying = structuredClone(manifest);
    const archive = lying.artifacts.find((a) => a.kind === 'media');
    if (archive?.kind !== 'media') throw new Error('no media archive');
    archive.fileCount += 1;
    await putObjectBytes(s3.client, BUCKET, key, JSON.stringify(lying));
    const before = await treeFingerprint(media);
    try {
      const failed = await restore(manifest.id);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /Media restore failed; .* is unchanged: The extracted media holds \d+ files/,
      );
      expect(failed.stderr).not.toContain('Internal error');
      expect(stagingDirs()).toEqual([]);
      expect(await treeFingerprint(media)).toBe(before);
    } finally {
      await putObjectBytes(s3.client, BUCKET, key, original);
    }
  });

  it('removes the staging directory when the media archive is damaged', async () => {
    const key = manifest.artifacts.find((a) => a.kind === 'media')?.key ?? '';
    const original = await getObjectBytes(s3.client, BUCKET, key);
    const damaged = Buffer.from(original);
    const middle = Math.floor(damaged.length / 2);
    damaged.writeUInt8(damaged.readUInt8(middle) ^ 0xff, middle);
    await putObjectBytes(s3.client, BUCKET, key, damaged);
    try {
      const failed = await restore(manifest.id);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(
        /Media restore failed; .* is unchanged: .*(does not match the manifest|zstd)/,
      );
      expect(stagingDirs()).toEqual([]);
    } finally {
      await putObjectBytes(s3.client, BUCKET, key, original);
    }
  });
});
