/**
 * backupctl's command line: a mistyped or misplaced option is a usage error (exit 2) naming it,
 * never silently ignored (`backup --database other` would back up PGDATABASE, not "other").
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { main } from '../../task/main.ts';

afterEach(() => vi.restoreAllMocks());

async function run(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  // No bucket: a command that got past argument checks would fail on configuration, also exit 2.
  const code = await main(argv, { BACKUP_BUCKET: 'cli-test-bucket', AWS_REGION: '', ...env });
  return { code, stdout, stderr };
}

describe('backupctl arguments', () => {
  it.each([
    [['backup', '--database', 'other'], /backup does not take --database; it takes --tier, --only/],
    [['report', '--tier', 'daily'], /report does not take --tier; it takes --database, --json/],
    [['verify', 'latest', '--only', 'db'], /verify does not take --only; it takes --json/],
    [['restore', 'latest', '--confirm', 'app', '--tier', 'daily'], /restore does not take --tier/],
    [['list', '--confirm', 'app', '--only', 'db'], /list does not take --confirm, --only/],
  ])('refuses %j with exit 2, naming the option', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it.each([
    [['backup', '--tier', 'weekly', '--tier', 'monthly'], /--tier is given 2 times; give each option once/],
    [['backup', '--only=db', '--only', 'media'], /--only is given 2 times/],
    [['list', '--json', '--json', '--tier', 'daily'], /--json is given 2 times/],
    [
      ['restore', 'latest', '--table', 'a.b', '--confirm', 'x', '--confirm', 'y'],
      /--confirm is given 2 times/,
    ],
    [
      ['restore', 'latest', '--table', 'a.b', '--table=', '--confirm', 'x'],
      /--table needs a value, got an empty one/,
    ],
    [['restore', 'latest', '--confirm', 'app', '--confirm', 'other'], /--confirm is given 2 times/],
  ])(
    'refuses the repeated option in %j with exit 2 instead of keeping the last value',
    async (argv, message) => {
      const result = await run(argv);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
    },
  );

  it.each([
    [['restore', 'latest', '--confirm', 'app', '--target-database='], /--target-database needs a value/],
    [['restore', 'latest', '--confirm', 'app', '--target-database', ''], /--target-database needs a value/],
    [['restore', 'latest', '--confirm='], /--confirm needs a value/],
    [['list', '--database='], /--database needs a value/],
    [['backup', '--tier='], /--tier needs a value/],
    [['backup', '--only='], /--only needs a value/],
  ])('refuses the empty value in %j with exit 2 instead of taking it as absent', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('refuses an unknown option and an unknown command with exit 2', async () => {
    expect((await run(['backup', '--teir', 'weekly'])).stderr).toMatch(
      /backup does not take --teir; it takes --tier, --only, --json\.\nhint: backupctl backup --help\n/,
    );
    const unknown = await run(['bakup']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command: bakup/);
  });

  it('accepts each command with its own options and --verbose, up to the configuration check', async () => {
    const result = await run(['status', '--database', 'app', '--json', '--verbose']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/AWS_REGION is not set/);
    expect(result.stderr).not.toMatch(/does not take/);
  });

  it.each([[['help']], [['--help']], [['-h']]])(
    'prints the usage for %j on stdout and exits 0',
    async (argv) => {
      const help = await run(argv);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^usage: backupctl <command> \[options\]\n/);
      for (const command of ['backup', 'list', 'verify', 'restore', 'status', 'report'])
        expect(help.stdout).toMatch(new RegExp(`^  ${command} +\\S`, 'm'));
      expect(help.stderr).toBe('');
    },
  );

  it('prints the usage and exits 2 without a command', async () => {
    const result = await run([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^usage: backupctl <command>/);
  });

  it.each([
    [['restore', '--help']],
    [['restore', 'latest', '--confirm', 'app', '-h']],
    [['help', 'restore']],
    [['restore', '--no-such-option', '--help']],
  ])("prints restore's own usage, options and exit codes for %j, and exits 0", async (argv) => {
    const help = await run(argv);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      'usage: backupctl restore <id|latest> --confirm DB [--target-database DB] [--only db|media] [--table SCHEMA.NAME …] [--schema NAME …] [--create] [--json]',
    );
    expect(help.stdout).toMatch(
      /--only PART +only the database or only the media \(one of db, media; default: /,
    );
    expect(help.stdout).toMatch(
      /exit codes:\n {2}0 {2}success\n {2}1 {2}the restore was refused or failed.*\n {2}2 {2}backupctl configuration error/,
    );
  });

  it('prints the help the README shows', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const shown = /\$ backupctl --help\n([\s\S]*?)\n\n\$ backupctl restore --help/.exec(readme)?.[1];
    expect(shown).toBeDefined();
    expect((await run(['--help'])).stdout).toBe(`${shown}\n`);
  });

  it('prints the version and exits 0', async () => {
    const result = await run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`backupctl ${packageJson.version}\n`);
  });

  it("refuses a value outside an option's choices, naming them", async () => {
    const result = await run(['backup', '--tier', 'hourly']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--tier must be one of daily, weekly, monthly, got: hourly/);
  });
});

describe('backupctl restore --table', () => {
  it('takes --table more than once, then refuses a table restore into the live database by name', async () => {
    // Both tables parsed (no "given 2 times"); the refusal is the table restore's own, exit 2.
    const result = await run(
      [
        'restore',
        'latest',
        '--table',
        'sales.a',
        '--table',
        'sales.b',
        '--target-database',
        'app',
        '--create',
        '--confirm',
        'app',
      ],
      { PGDATABASE: 'app', AWS_REGION: 'eu-west-1' },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/never writes into the live database app/);
  });
});
