/**
 * backupctl's command line from one table: each command's argument, options (with their values
 * and defaults) and exit codes are declared once in main.ts, and parsing, validation and help
 * are all derived from that declaration here. Nothing is kept in step by hand.
 */
import { parseArgs } from 'node:util';
import { EXIT, EXIT_CODE_MEANINGS } from './core/exit-codes.ts';
import { ConfigError } from './errors.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** The value's placeholder in usage, e.g. `DB`. */
  readonly value?: string;
  /** The only values accepted; help lists them. */
  readonly choices?: readonly string[];
  readonly description: string;
  /** What happens when the option is not given, for help. */
  readonly default?: string;
  /** Shown as required in usage (the command checks it, so its message can name the value). */
  readonly required?: boolean;
  readonly short?: string;
  /** May be given more than once; its value is then the list (every other option once only). */
  readonly multiple?: boolean;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** The positional argument the command takes, if any; `count` of them (@default 1). */
  readonly argument?: { readonly name: string; readonly description: string; readonly count?: number };
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Exit codes besides 0 (success) and 2 (usage), with what each means for this command. */
  readonly exitCodes: Readonly<Record<number, string>>;
}

export type OptionValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

export type CommandLine<C extends CommandSpec> =
  | { readonly kind: 'help'; readonly text: string; readonly exitCode: number }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'run';
      readonly command: C;
      readonly values: OptionValues;
      readonly argument: string | undefined;
      /** Every positional argument, for a command taking more than one. */
      readonly positionals: readonly string[];
    };

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  verbose: { type: 'boolean', description: 'debug logs, and the stack trace of an error' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
};

/** Parses argv (without node and the script) against the table; throws ConfigError on misuse. */
export function parseCommandLine<C extends CommandSpec>(
  commands: readonly C[],
  argv: readonly string[],
): CommandLine<C> {
  const [name, ...rest] = argv;
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (name === '--version' || name === '-V') return { kind: 'version' };
  if (name === undefined) return { kind: 'help', text: formatUsage(commands), exitCode: EXIT.usage };
  if (name === 'help' || name === '--help' || name === '-h') {
    const about = commands.find((c) => c.name === rest[0]);
    return {
      kind: 'help',
      text: about ? formatCommandHelp(about) : formatUsage(commands),
      exitCode: EXIT.ok,
    };
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    throw new ConfigError(
      `Unknown command: ${name}; the commands are ${commands.map((c) => c.name).join(', ')} (backupctl --help).`,
    );
  }
  if (wantsHelp) return { kind: 'help', text: formatCommandHelp(command), exitCode: EXIT.ok };

  const specs = { ...command.options, ...GLOBAL_OPTIONS };
  const end = rest.indexOf('--');
  const foreign = (end < 0 ? rest : rest.slice(0, end))
    .filter((arg) => arg.startsWith('--'))
    .map((arg) => arg.slice(2).split('=')[0] ?? '')
    .filter((option) => !Object.hasOwn(specs, option))
    .map((option) => `--${option}`);
  if (foreign.length > 0) {
    const takes = Object.keys(command.options).map((o) => `--${o}`);
    throw usageError(
      command,
      `${command.name} does not take ${foreign.join(', ')}; it takes ${takes.join(', ') || 'no options'}`,
    );
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: Object.fromEntries(
        Object.entries(specs).map(([option, spec]) => [
          option,
          { type: spec.type, multiple: true, ...(spec.short ? { short: spec.short } : {}) },
        ]),
      ),
    });
  } catch (error) {
    throw usageError(command, (error as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const values: Record<string, string | boolean | readonly string[] | undefined> = {};
  for (const [option, given] of Object.entries(parsed.values)) {
    const list = given as (string | boolean)[];
    if (specs[option]?.multiple) {
      if (list.some((v) => v === ''))
        throw usageError(command, `--${option} needs a value, got an empty one`);
      values[option] = list as string[];
      continue;
    }
    if (list.length > 1)
      throw usageError(command, `--${option} is given ${list.length} times; give each option once`);
    const value = list[0];
    const spec = specs[option];
    if (value === '') throw usageError(command, `--${option} needs a value, got an empty one`);
    if (typeof value === 'string' && spec?.choices && !spec.choices.includes(value)) {
      throw usageError(command, `--${option} must be one of ${spec.choices.join(', ')}, got: ${value}`);
    }
    values[option] = value;
  }
  const positionals = parsed.positionals;
  const wanted = command.argument ? (command.argument.count ?? 1) : 0;
  if (positionals.length !== wanted) {
    throw usageError(
      command,
      command.argument
        ? `${command.name} takes ${wanted === 1 ? 'one ' : ''}${command.argument.name}, got: ${positionals.join(' ') || 'none'}`
        : `${command.name} takes no arguments, got: ${positionals.join(' ')}`,
    );
  }
  return { kind: 'run', command, values, argument: positionals[0], positionals };
}

function usageError(command: CommandSpec, problem: string): ConfigError {
  return new ConfigError(`${problem.replace(/\.$/, '')}.`, { hint: `backupctl ${command.name} --help` });
}

function synopsis(command: CommandSpec): string {
  const parts = Object.entries(command.options).map(([option, spec]) => {
    const value = spec.choices ? spec.choices.join('|') : spec.value;
    const text = `--${option}${spec.type === 'string' ? ` ${value ?? 'VALUE'}` : ''}${spec.multiple ? ' …' : ''}`;
    return spec.required ? text : `[${text}]`;
  });
  return ['backupctl', command.name, ...(command.argument ? [command.argument.name] : []), ...parts].join(
    ' ',
  );
}

export function formatUsage(commands: readonly CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: backupctl <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'options for every command: --verbose (debug logs and stack traces), -h/--help',
    'backupctl <command> --help shows its options and exit codes; backupctl --version the version.',
    'Data (tables, JSON) goes to stdout, logs to stderr.',
  ].join('\n');
}

export function formatCommandHelp(command: CommandSpec): string {
  const options = Object.entries({ ...command.options, ...GLOBAL_OPTIONS }).map(([option, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${option}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    const extra = [
      spec.choices ? `one of ${spec.choices.join(', ')}` : '',
      spec.default ? `default: ${spec.default}` : '',
    ].filter(Boolean);
    return [flag, `${spec.description}${extra.length ? ` (${extra.join('; ')})` : ''}`] as const;
  });
  const width = Math.max(...options.map(([flag]) => flag.length));
  const codes = { [EXIT.ok]: 'success', ...command.exitCodes, [EXIT.usage]: EXIT_CODE_MEANINGS[EXIT.usage] };
  return [
    `usage: ${synopsis(command)}`,
    '',
    command.summary,
    ...(command.argument ? ['', `${command.argument.name}: ${command.argument.description}`] : []),
    '',
    'options:',
    ...options.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
    '',
    'exit codes:',
    ...Object.entries(codes).map(([code, text]) => `  ${code}  ${text}`),
  ].join('\n');
}
