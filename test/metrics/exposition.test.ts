import { escapeHelp, escapeLabelValue, formatLabels, formatValue, isValidLabelName, isValidMetricName } from '../../core/metrics/exposition';

describe('Prometheus text format 0.0.4', () => {
  test('label values escape backslash, double quote and newline, and nothing else', () => {
    expect(escapeLabelValue('plain-topic.name_1')).toBe('plain-topic.name_1');
    expect(escapeLabelValue('a\\b')).toBe('a\\\\b');
    expect(escapeLabelValue('say "hi"')).toBe('say \\"hi\\"');
    expect(escapeLabelValue('two\nlines')).toBe('two\\nlines');
    expect(escapeLabelValue('\\"\n')).toBe('\\\\\\"\\n');
    expect(escapeLabelValue('tab\there, ünïcode {}=,')).toBe('tab\there, ünïcode {}=,');
  });

  test('HELP text escapes backslash and newline but not double quotes', () => {
    expect(escapeHelp('1 while "upload backlog:" lines')).toBe('1 while "upload backlog:" lines');
    expect(escapeHelp('C:\\path\nnext')).toBe('C:\\\\path\\nnext');
  });

  test('values: integers and floats as Go parses them, special floats by name, bigint exactly', () => {
    expect(formatValue(0)).toBe('0');
    expect(formatValue(42)).toBe('42');
    expect(formatValue(-3)).toBe('-3');
    expect(formatValue(0.25)).toBe('0.25');
    expect(formatValue(1e21)).toBe('1e+21');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(2n ** 63n - 1n)).toBe('9223372036854775807');
    for (const v of [0.1, 123.456, 1e-7, 5e300]) expect(Number(formatValue(v))).toBe(v);
  });

  test('label sets: in declared order, comma-separated, nothing when there are no labels', () => {
    expect(formatLabels([], [])).toBe('');
    expect(formatLabels(['topic', 'partition'], ['orders', '3'])).toBe('{topic="orders",partition="3"}');
    expect(formatLabels(['error'], ['x"y'])).toBe('{error="x\\"y"}');
  });

  test('metric and label names', () => {
    for (const ok of ['strata_requests_total', 'process_cpu_seconds_total', 'a:b', '_x']) expect(isValidMetricName(ok)).toBe(true);
    for (const bad of ['', '1abc', 'strata-requests', 'strata requests', 'strata.requests']) expect(isValidMetricName(bad)).toBe(false);
    for (const ok of ['topic', 'partition', '_x', 'a1']) expect(isValidLabelName(ok)).toBe(true);
    for (const bad of ['', '__name__', '__x', '1a', 'a:b', 'a-b']) expect(isValidLabelName(bad)).toBe(false);
  });
});
