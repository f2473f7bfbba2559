import { describeValidator, formatConfigValue, javaDoubleToString, longToNumber, parseConfigValue, type ConfigEntry } from '../../core/config/configDef';

const e = (type: ConfigEntry['type'], extra: Partial<ConfigEntry> = {}): ConfigEntry => ({
  name: 'x', type, default: null, doc: 'd', synonyms: [], isSensitive: false, readOnly: false, ...extra,
});

describe('parsing by type', () => {
  test('long values are exact bigints, int values numbers; both trimmed', () => {
    expect(parseConfigValue(e('long'), ' 9223372036854775807 ')).toBe(9223372036854775807n);
    expect(parseConfigValue(e('long'), '-9223372036854775808')).toBe(-9223372036854775808n);
    expect(() => parseConfigValue(e('long'), '9223372036854775808')).toThrow(/LONG/);
    expect(parseConfigValue(e('int'), '-2147483648')).toBe(-2147483648);
    expect(() => parseConfigValue(e('int'), '2147483648')).toThrow(/INT/);
    expect(() => parseConfigValue(e('short'), '32768')).toThrow(/SHORT/);
    expect(() => parseConfigValue(e('long'), '')).toThrow(/LONG/);
    expect(() => parseConfigValue(e('long'), '1e3')).toThrow(/LONG/);
  });

  test('booleans are case-insensitive; lists split on commas; strings trimmed', () => {
    expect(parseConfigValue(e('boolean'), 'True')).toBe(true);
    expect(parseConfigValue(e('list'), '')).toEqual([]);
    expect(parseConfigValue(e('list'), 'a , b,c')).toEqual(['a', 'b', 'c']);
    expect(parseConfigValue(e('string'), '  s  ')).toBe('s');
  });

  test('doubles accept decimal and exponent forms, refuse NaN and Infinity', () => {
    expect(parseConfigValue(e('double'), '.5')).toBe(0.5);
    expect(parseConfigValue(e('double'), '1E-3')).toBe(0.001);
    for (const bad of ['NaN', 'Infinity', '0x10', '1.2.3', '']) expect(() => parseConfigValue(e('double'), bad)).toThrow(/DOUBLE/);
  });

  test('range bounds compare exactly, even for longs beyond 2^53', () => {
    const big = e('long', { validator: { kind: 'range', min: 9007199254740992 } });
    expect(() => parseConfigValue(big, '9007199254740991')).toThrow('Value must be at least 9007199254740992');
    expect(parseConfigValue(big, '9007199254740993')).toBe(9007199254740993n);
  });
});

test('canonical string forms follow Kafka (Java) formatting', () => {
  expect(formatConfigValue('double', 0.5)).toBe('0.5');
  expect(formatConfigValue('double', 1)).toBe('1.0');
  expect(formatConfigValue('list', ['compact', 'delete'])).toBe('compact,delete');
  expect(formatConfigValue('long', 5n)).toBe('5');
  expect(javaDoubleToString(1e-5)).toBe('1.0E-5');
  expect(javaDoubleToString(1.25e7)).toBe('1.25E7');
  expect(javaDoubleToString(0.001)).toBe('0.001');
  expect(javaDoubleToString(0)).toBe('0.0');
});

test('longToNumber clamps to the safe integer range', () => {
  expect(longToNumber(2n ** 63n - 1n)).toBe(Number.MAX_SAFE_INTEGER);
  expect(longToNumber(-(2n ** 63n))).toBe(Number.MIN_SAFE_INTEGER);
  expect(longToNumber(123n)).toBe(123);
});

test('validators describe themselves as Kafka\'s docs do', () => {
  expect(describeValidator({ kind: 'range', min: -1 })).toBe('[-1,...]');
  expect(describeValidator({ kind: 'range', min: 0, max: 1 })).toBe('[0,...,1]');
  expect(describeValidator({ kind: 'enum', values: ['a', 'b'] })).toBe('[a, b]');
  expect(describeValidator(undefined)).toBe('');
});
