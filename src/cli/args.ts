/**
 * What `weightscope` and `weightscope diff` parse alike: option tokens (`--name value` and
 * `--name=value`), the output format (`--json` or `--format`), `--depth`, and the usage error
 * both turn into exit status 2.
 */
export class UsageError extends Error {}

/** One command-line argument: its option name (`--format` of `--format=svg`), its value, or that it has none. */
export interface ArgToken {
  arg: string;
  name: string;
  /** The value after `=`, else the next argument (consumed). */
  value(): string;
  /** Refuse a value given with `=`. */
  flag(): void;
}

export function* argTokens(argv: readonly string[]): Generator<ArgToken> {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    yield {
      arg,
      name,
      value: () => {
        const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (v === undefined || v === '') throw new UsageError(`${name} needs a value`);
        return v;
      },
      flag: () => {
        if (eq > 0) throw new UsageError(`${name} takes no value`);
      },
    };
  }
}

/** The format `--format v` (or `--json`, v = 'json') asks for, given the one asked for so far. */
export function chooseFormat<F extends string>(current: F | undefined, v: string, formats: readonly F[]): F {
  if (!(formats as readonly string[]).includes(v)) throw new UsageError(`unknown format "${v}" (choose ${formats.join(', ')})`);
  if (current && current !== v) throw new UsageError('--json conflicts with --format');
  return v as F;
}

/** `--depth`'s value: a whole number. */
export function depthValue(v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`--depth takes a whole number, not "${v}"`);
  return Number(v);
}
