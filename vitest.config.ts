import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // CDK synth and real PostgreSQL clusters are slow on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration files each start a PostgreSQL cluster and an S3 emulator; two at a time fit 2 cores.
    maxWorkers: 2,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
