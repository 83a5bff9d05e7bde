/**
 * bin/app.ts as `cdk synth` runs it: the CLI passes the context in CDK_CONTEXT_JSON. An invalid
 * configuration must stop synthesis with one line per problem.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CDK_JSON_CONTEXT } from './synth.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('bin/app.ts', () => {
  it('fails with one line per problem naming each key and value when the configuration is invalid', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'cdk-app-'));
    const base = CDK_JSON_CONTEXT.backup as Record<string, unknown>;
    const context = {
      ...CDK_JSON_CONTEXT,
      backup: { ...base, timeZone: 'Nowhere/Land', task: { cpu: 999 } },
    };
    try {
      // Act
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
        cwd: ROOT,
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
        encoding: 'utf8',
      });
      // Assess
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^config: timeZone must be .*, got: "Nowhere\/Land"$/),
        expect.stringMatching(/^config: task\.cpu must be .*, got: 999$/),
      ]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('fails naming the key when the replica region is the primary region', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'cdk-app-'));
    const base = CDK_JSON_CONTEXT.backup as Record<string, unknown>;
    const context = {
      ...CDK_JSON_CONTEXT,
      backup: { ...base, objectLock: { enabled: true }, replica: { region: 'eu-west-1' } },
    };
    try {
      // Act
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          CDK_CONTEXT_JSON: JSON.stringify(context),
          CDK_OUTDIR: outdir,
          CDK_DEFAULT_REGION: 'eu-west-1',
        },
        encoding: 'utf8',
      });
      // Assess
      expect(result.status).toBe(1);
      expect(result.stderr.trim()).toMatch(
        /^config: replica\.region must differ from the primary's region \(eu-west-1\): .*, got: "eu-west-1"$/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
