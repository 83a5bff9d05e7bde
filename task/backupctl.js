#!/usr/bin/env node
// Runs the TypeScript source through tsx, so `npx backupctl` works right after `npm ci`.
// The container image runs an esbuild bundle of main.ts instead (task/Dockerfile).
import { register } from 'tsx/esm/api';

register();
// Operators read stderr for one-sentence errors; the SDK's Node 20 deprecation notice is noise there.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
