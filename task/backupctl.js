#!/usr/bin/env node
// `npx backupctl` and `npm run backupctl`. Runs the bundle the container image runs
// (dist/backupctl.mjs, built by `npm run build:backupctl`, which `npm ci` runs as `prepare`) when
// no file it was built from changed since; otherwise the TypeScript source through tsx, which
// compiles at run time (~0.4 s more), so an edited source is what runs.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bundle = join(root, 'dist', 'backupctl.mjs');

function bundleIsCurrent() {
  try {
    const { startedAt, inputs } = JSON.parse(
      readFileSync(join(root, 'dist', 'backupctl.inputs.json'), 'utf8'),
    );
    return inputs.every((input) => statSync(join(root, input)).mtimeMs < startedAt);
  } catch {
    return false; // never built, or an input is gone: the sources decide
  }
}

if (bundleIsCurrent()) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
}
