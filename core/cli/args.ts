import { StrataError } from '../common/errors';

/**
 * A tiny strict flag parser for the `strata` commands. Flags are spelled as in Kafka's own
 * tools (`--bootstrap-server`, `--topic`, `--property k=v`) so habits carry over. Strict means:
 * an unknown flag, a missing value, a value given to a switch, a single-valued flag given twice
 * or a stray positional argument is a usage error naming the culprit, never silently ignored.
 */

/**
 * - `switch`: present or not (`--list`); `--list=true|false` is also accepted.
 * - `value`: exactly one value (`--topic T` or `--topic=T`).
 * - `repeatable`: any number of values, kept in order (`--config a=1 --config b=2`).
 */
export type FlagKind = 'switch' | 'value' | 'repeatable';

export interface FlagSpec {
  /** Without the leading dashes, e.g. 'bootstrap-server'. */
  readonly name: string;
  readonly kind: FlagKind;
  /** Shown in usage after the flag, e.g. 'HOST:PORT'. */
  readonly valueName?: string;
  readonly description: string;
}

export interface CommandSpec {
  /** As typed after `strata`, e.g. 'console-producer'. */
  readonly name: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** Example command lines shown at the end of the usage text. */
  readonly examples?: readonly string[];
}

/** A usage mistake: the CLI prints the message and the command's usage and exits 2. */
export class UsageError extends StrataError {
  /** The command whose usage should be printed after the message, if known. */
  readonly spec?: CommandSpec;
  constructor(message: string, spec?: CommandSpec) {
    super('USAGE_INVALID', message);
    this.name = 'UsageError';
    this.spec = spec;
  }
}

/** The result of parsing one command line against its spec. */
export class ParsedArgs {
  constructor(
    readonly spec: CommandSpec,
    private readonly values: ReadonlyMap<string, readonly string[]>,
    private readonly switches: ReadonlySet<string>,
  ) {}

  has(name: string): boolean {
    this.check(name);
    return this.switches.has(name) || this.values.has(name);
  }

  /** A switch's state. */
  flag(name: string): boolean {
    this.check(name);
    return this.switches.has(name);
  }

  /** A single-valued flag's value, or undefined when absent. */
  string(name: string): string | undefined {
    this.check(name);
    return this.values.get(name)?.[0];
  }

  /** A single-valued flag that must be present. */
  required(name: string, why?: string): string {
    const v = this.string(name);
    if (v === undefined) throw new UsageError(`missing required flag --${name}${why ? ` (${why})` : ''}`, this.spec);
    return v;
  }

  /** All values of a repeatable flag, in command-line order. */
  list(name: string): string[] {
    this.check(name);
    return [...(this.values.get(name) ?? [])];
  }

  /** A single-valued flag parsed as a base-10 integer within [min, max]. */
  int(name: string, opts: { min?: number; max?: number } = {}): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    return parseIntStrict(raw, `--${name}`, opts, this.spec);
  }

  private check(name: string): void {
    // Asking for a flag the spec does not declare is a programming error, not a usage error.
    if (!this.spec.flags.some((f) => f.name === name)) throw new Error(`flag --${name} is not declared by '${this.spec.name}'`);
  }
}

/** Parses an integer strictly (no '12abc', no '1e3', no blanks) and range-checks it. */
export function parseIntStrict(raw: string, what: string, opts: { min?: number; max?: number } = {}, spec?: CommandSpec): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${what} must be an integer, got '${raw}'`, spec);
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} is out of range: '${raw}'`, spec);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`${what} must be at least ${opts.min}, got ${n}`, spec);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`${what} must be at most ${opts.max}, got ${n}`, spec);
  return n;
}

/** Splits 'key=value' (the value may itself contain '='). */
export function parseKeyValue(raw: string, what: string, spec?: CommandSpec): [string, string] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new UsageError(`${what} expects key=value, got '${raw}'`, spec);
  return [raw.slice(0, eq), raw.slice(eq + 1)];
}

/** Parses `argv` (the words after the command name) against `spec`. Throws UsageError. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const values = new Map<string, string[]>();
  const switches = new Set<string>();

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (!word.startsWith('--') || word === '--') {
      throw new UsageError(`unexpected argument '${word}' (every option is a --flag)`, spec);
    }
    const eq = word.indexOf('=');
    const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
    const inline = eq < 0 ? undefined : word.slice(eq + 1);
    const flag = byName.get(name);
    if (!flag) {
      const guess = didYouMean(name, spec.flags.map((f) => f.name));
      throw new UsageError(`unknown flag --${name} for '${spec.name}'${guess ? `; did you mean --${guess}?` : ''}`, spec);
    }

    if (flag.kind === 'switch') {
      if (inline === undefined || inline === 'true') switches.add(name);
      else if (inline === 'false') switches.delete(name);
      else throw new UsageError(`--${name} takes no value (got '${inline}')`, spec);
      continue;
    }

    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      // A following '--word' is taken as the next flag, not as this flag's value: forgetting a
      // value is far more common than wanting one that starts with '--' (use --flag=--x for that).
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value${flag.valueName ? ` (${flag.valueName})` : ''}`, spec);
      value = next;
      i++;
    }
    const seen = values.get(name);
    if (seen && flag.kind === 'value') throw new UsageError(`--${name} given more than once`, spec);
    if (seen) seen.push(value);
    else values.set(name, [value]);
  }
  return new ParsedArgs(spec, values, switches);
}

/** Whether argv asks for help (anywhere, so `strata topics --list --help` works). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** The usage text for a command: every flag with its value name and description. */
export function formatUsage(spec: CommandSpec): string {
  const left = spec.flags.map((f) => `  --${f.name}${f.kind === 'switch' ? '' : ` <${f.valueName ?? 'VALUE'}>`}`);
  const width = Math.min(Math.max(...left.map((l) => l.length), 0) + 2, 44);
  const lines = [`Usage: strata ${spec.name} [flags]`, '', spec.summary, '', 'Flags:'];
  spec.flags.forEach((f, i) => {
    const repeat = f.kind === 'repeatable' ? ' (repeatable)' : '';
    const l = left[i];
    if (l.length + 2 <= width) lines.push(l.padEnd(width) + f.description + repeat);
    else lines.push(l, ' '.repeat(width) + f.description + repeat);
  });
  lines.push('  --help'.padEnd(width) + 'Print this usage and exit.');
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

/** The closest candidate by edit distance, if it is close enough to be a plausible typo. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(input, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // A prefix ('--bootstrap' for '--bootstrap-server') is a plausible typo whatever its length.
  const prefixHit = candidates.find((c) => input.length >= 3 && c.startsWith(input));
  if (prefixHit && bestDistance > 2) return prefixHit;
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : undefined;
}

/** Levenshtein distance with a single rolling row. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}
