import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/backupctl.ts';

describe('npm run demo', () => {
  it('runs the whole flow on one machine and exits 0 with every claim held', () => {
    const result = spawnSync('npm', ['run', '--silent', 'demo'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/All \d+ claims held\./);
    expect(result.stdout).not.toContain('✘ FAILED');
    expect(result.stdout).toContain('Subject: Backup FAILED: shop daily, exit 1');
  });
});
