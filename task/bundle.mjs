// Builds dist/backupctl.mjs, the one-file program the container image runs (task/Dockerfile) and
// `npx backupctl` runs (task/backupctl.js), from task/cli.ts and its dependencies.
// Beside it, dist/backupctl.inputs.json records when the build started and every file it read, so
// the launcher can tell whether the bundle is still what the sources say. Both files are written
// under a temporary name and renamed: a backupctl started meanwhile runs the old build or the new
// one, never half a file.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const startedAt = Date.now();
const result = await build({
  entryPoints: [join(root, 'task', 'cli.ts')],
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(dist, 'backupctl.mjs'),
  write: false,
  metafile: true,
  logLevel: 'warning',
  banner: {
    js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);',
  },
});

const writeAtomically = (name, contents) => {
  const path = join(dist, name);
  writeFileSync(`${path}.${process.pid}.tmp`, contents);
  renameSync(`${path}.${process.pid}.tmp`, path);
};
mkdirSync(dist, { recursive: true });
const [bundle] = result.outputFiles;
writeAtomically('backupctl.mjs', bundle.contents);
writeAtomically(
  'backupctl.inputs.json',
  `${JSON.stringify({ startedAt, inputs: Object.keys(result.metafile.inputs).sort() })}\n`,
);
