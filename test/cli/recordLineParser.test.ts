import { isStrataError } from '../../core/common/errors';
import { UsageError } from '../../core/cli/args';
import { lineParserConfig, parseRecordLine } from '../../core/cli/recordLineParser';

const cfg = (props: Record<string, string>) => lineParserConfig(new Map(Object.entries(props)));
const parse = (line: string, props: Record<string, string> = {}, n = 1) => {
  const r = parseRecordLine(Buffer.from(line), n, cfg(props));
  return {
    key: r.key === null ? null : r.key.toString(),
    value: r.value === null ? null : r.value.toString(),
    headers: r.headers.map((h) => [h.key, h.value === null ? null : h.value.toString()]),
  };
};

describe('parseRecordLine', () => {
  it('takes the whole line as the value by default', () => {
    expect(parse('a,b\tc')).toEqual({ key: null, value: 'a,b\tc', headers: [] });
  });

  it('splits key and value at the first key.separator', () => {
    expect(parse('k\tv\tw', { 'parse.key': 'true' })).toEqual({ key: 'k', value: 'v\tw', headers: [] });
    expect(parse('k1,v1', { 'parse.key': 'true', 'key.separator': ',' })).toEqual({ key: 'k1', value: 'v1', headers: [] });
    expect(parse('k::v', { 'parse.key': 'TRUE', 'key.separator': '::' })).toEqual({ key: 'k', value: 'v', headers: [] });
    expect(parse(',v', { 'parse.key': 'true', 'key.separator': ',' })).toEqual({ key: '', value: 'v', headers: [] });
  });

  it("fails like Kafka's console producer when the separator is missing", () => {
    let err: unknown;
    try {
      parse('nosep', { 'parse.key': 'true', 'key.separator': ',' }, 3);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'INPUT_INVALID')).toBe(true);
    expect((err as Error).message).toBe("No key separator found on line number 3: 'nosep'");
  });

  it('with ignore.error, a missing separator means no key', () => {
    expect(parse('nosep', { 'parse.key': 'true', 'ignore.error': 'true' })).toEqual({ key: null, value: 'nosep', headers: [] });
  });

  it('parses headers before the key', () => {
    expect(parse('h1:v1,h2:v2\tk\tv', { 'parse.headers': 'true', 'parse.key': 'true' })).toEqual({
      key: 'k',
      value: 'v',
      headers: [
        ['h1', 'v1'],
        ['h2', 'v2'],
      ],
    });
    expect(parse('h:a:b\tv', { 'parse.headers': 'true' }).headers).toEqual([['h', 'a:b']]);
    expect(() => parse('novalue\tv', { 'parse.headers': 'true' })).toThrow("No header key separator found in pair 'novalue' on line number 1");
    expect(() => parse('no-delimiter', { 'parse.headers': 'true' })).toThrow("No headers delimiter found on line number 1: 'no-delimiter'");
  });

  it('maps null.marker to null keys, values and header values', () => {
    const props = { 'parse.key': 'true', 'key.separator': ',', 'null.marker': 'NULL', 'parse.headers': 'true' };
    expect(parse('h:NULL\tNULL,NULL', props)).toEqual({ key: null, value: null, headers: [['h', null]] });
    expect(() => parse('NULL:x\tk,v', props)).toThrow("Header keys should not be equal to the null marker 'NULL'");
  });

  it('rejects separators that would be ambiguous', () => {
    expect(() => cfg({ 'headers.delimiter': ',', 'headers.separator': ',' })).toThrow(UsageError);
    expect(() => cfg({ 'null.marker': '\t' })).toThrow('--property null.marker and key.separator may not be equal');
    expect(() => cfg({ 'key.separator': '' })).toThrow('--property key.separator must not be empty');
  });
});
