#!/usr/bin/env node
// Runs the TypeScript source through tsx, so `npx backupctl` works right after `npm ci`.
// The container image runs the esbuild bundle of the same entry, task/cli.ts (task/Dockerfile).
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
