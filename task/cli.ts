/**
 * The backupctl program: run main() and exit with its code. The container image runs an esbuild
 * bundle of this file (`npm run build:backupctl`); task/backupctl.js runs it from source.
 */
import { main } from './main.ts';

// Operators read stderr for one-sentence errors; the SDK's Node 20 deprecation notice is noise there.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
process.exitCode = await main(process.argv.slice(2));
