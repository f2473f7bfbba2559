import { CommandSpec, UsageError, didYouMean, formatUsage, parseArgs, parseIntStrict, parseKeyValue, wantsHelp } from '../../core/cli/args';

const spec: CommandSpec = {
  name: 'demo',
  summary: 'A demo command.',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT', description: 'Where.' },
    { name: 'topic', kind: 'value', description: 'Topic.' },
    { name: 'list', kind: 'switch', description: 'List.' },
    { name: 'config', kind: 'repeatable', valueName: 'K=V', description: 'Configs.' },
    { name: 'partitions', kind: 'value', valueName: 'N', description: 'Count.' },
  ],
  examples: ['strata demo --list'],
};

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseArgs', () => {
  it('reads --flag value and --flag=value forms', () => {
    const a = parseArgs(['--bootstrap-server', 'h:1', '--topic=t=x', '--list'], spec);
    expect(a.string('bootstrap-server')).toBe('h:1');
    expect(a.string('topic')).toBe('t=x'); // only the first '=' splits
    expect(a.flag('list')).toBe(true);
    expect(a.has('partitions')).toBe(false);
    expect(a.string('partitions')).toBeUndefined();
  });

  it('keeps repeatable values in order', () => {
    const a = parseArgs(['--config', 'a=1', '--config=b=2', '--config', 'a=3'], spec);
    expect(a.list('config')).toEqual(['a=1', 'b=2', 'a=3']);
    expect(parseArgs([], spec).list('config')).toEqual([]);
  });

  it('accepts values that look like negative numbers', () => {
    expect(parseArgs(['--partitions', '-1'], spec).string('partitions')).toBe('-1');
  });

  it('accepts --switch=true/false', () => {
    expect(parseArgs(['--list=false'], spec).flag('list')).toBe(false);
    expect(parseArgs(['--list=true'], spec).flag('list')).toBe(true);
    expect(usageError(() => parseArgs(['--list=yes'], spec)).message).toContain('--list takes no value');
  });

  it('names an unknown flag and suggests the closest one', () => {
    const e = usageError(() => parseArgs(['--topc', 'x'], spec));
    expect(e.message).toBe("unknown flag --topc for 'demo'; did you mean --topic?");
    expect(e.spec).toBe(spec);
    expect(usageError(() => parseArgs(['--bootstrap', 'x'], spec)).message).toContain('did you mean --bootstrap-server?');
    expect(usageError(() => parseArgs(['--zzzzzzzz'], spec)).message).not.toContain('did you mean');
  });

  it('rejects a missing value, including when the next word is a flag', () => {
    expect(usageError(() => parseArgs(['--topic'], spec)).message).toBe('--topic needs a value');
    expect(usageError(() => parseArgs(['--bootstrap-server', '--list'], spec)).message).toBe('--bootstrap-server needs a value (HOST:PORT)');
    expect(parseArgs(['--topic=--odd'], spec).string('topic')).toBe('--odd');
  });

  it('rejects a single-valued flag given twice, and positionals', () => {
    expect(usageError(() => parseArgs(['--topic', 'a', '--topic', 'b'], spec)).message).toBe('--topic given more than once');
    expect(usageError(() => parseArgs(['stray'], spec)).message).toContain("unexpected argument 'stray'");
    expect(usageError(() => parseArgs(['-t', 'x'], spec)).message).toContain("unexpected argument '-t'");
  });

  it('parses integers strictly', () => {
    const a = parseArgs(['--partitions', '12'], spec);
    expect(a.int('partitions', { min: 1 })).toBe(12);
    expect(usageError(() => parseArgs(['--partitions', '12abc'], spec).int('partitions')).message).toBe("--partitions must be an integer, got '12abc'");
    expect(usageError(() => parseArgs(['--partitions', '0'], spec).int('partitions', { min: 1 })).message).toBe('--partitions must be at least 1, got 0');
    expect(usageError(() => parseIntStrict('1e3', 'x')).message).toContain('must be an integer');
    expect(usageError(() => parseIntStrict('99999999999999999999', 'x')).message).toContain('out of range');
  });

  it('requires flags on demand', () => {
    expect(usageError(() => parseArgs([], spec).required('topic')).message).toBe('missing required flag --topic');
  });

  it('treats asking for an undeclared flag as a programming error', () => {
    expect(() => parseArgs([], spec).string('nope')).toThrow("flag --nope is not declared by 'demo'");
  });
});

describe('helpers', () => {
  it('splits key=value', () => {
    expect(parseKeyValue('a.b=c=d', '--config')).toEqual(['a.b', 'c=d']);
    expect(parseKeyValue('k=', '--config')).toEqual(['k', '']);
    expect(usageError(() => parseKeyValue('novalue', '--config')).message).toBe("--config expects key=value, got 'novalue'");
    expect(usageError(() => parseKeyValue('=v', '--config')).message).toContain('expects key=value');
  });

  it('detects --help anywhere', () => {
    expect(wantsHelp(['--list', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--list'])).toBe(false);
  });

  it('suggests only plausible typos', () => {
    expect(didYouMean('consol-producer', ['console-producer', 'console-consumer', 'topics'])).toBe('console-producer');
    expect(didYouMean('topic', ['console-producer', 'topics'])).toBe('topics');
    expect(didYouMean('xyz', ['topics'])).toBeUndefined();
  });

  it('prints every flag in the usage', () => {
    const text = formatUsage(spec);
    expect(text).toContain('Usage: strata demo [flags]');
    for (const f of spec.flags) expect(text).toContain(`--${f.name}`);
    expect(text).toContain('--config <K=V>');
    expect(text).toContain('(repeatable)');
    expect(text).toContain('--help');
    expect(text).toContain('strata demo --list');
  });
});
