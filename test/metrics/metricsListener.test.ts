import { metricsUrl, parseMetricsListener } from '../../core/metrics/metricsListener';
import { loadBrokerConfig, describeBrokerConfig } from '../../core/config/brokerConfig';

describe('metrics.listener', () => {
  test('http://HOST:PORT, with an empty host, IPv6 in brackets, port 0, an optional /metrics path', () => {
    expect(parseMetricsListener('http://127.0.0.1:9644')).toEqual({ host: '127.0.0.1', port: 9644 });
    expect(parseMetricsListener(' http://localhost:0 ')).toEqual({ host: 'localhost', port: 0 });
    expect(parseMetricsListener('http://:9644')).toEqual({ host: '', port: 9644 });
    expect(parseMetricsListener('http://[::1]:9644')).toEqual({ host: '::1', port: 9644 });
    expect(parseMetricsListener('http://0.0.0.0:9644/metrics')).toEqual({ host: '0.0.0.0', port: 9644 });
  });

  test('empty means off', () => {
    expect(parseMetricsListener('')).toBeNull();
    expect(parseMetricsListener('  ')).toBeNull();
  });

  test.each(['127.0.0.1:9644', 'https://127.0.0.1:9644', 'http://127.0.0.1', 'http://127.0.0.1:70000', 'http://127.0.0.1:-1', 'http://h:1/other', 'PLAINTEXT://h:1'])(
    '%s is refused with the expected form',
    (bad) => {
      expect(() => parseMetricsListener(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    },
  );

  test('the URL to scrape', () => {
    expect(metricsUrl('127.0.0.1', 9644)).toBe('http://127.0.0.1:9644/metrics');
    expect(metricsUrl('::1', 9644)).toBe('http://[::1]:9644/metrics');
  });

  test('a broker config: off by default; set by flag, env or file; invalid values name the config', () => {
    expect(loadBrokerConfig({ flags: {} }).metricsListener).toBe('');
    expect(loadBrokerConfig({ flags: { 'metrics.listener': 'http://127.0.0.1:0' } }).metricsListener).toBe('http://127.0.0.1:0');
    expect(loadBrokerConfig({ flags: {}, env: { STRATA_METRICS_LISTENER: 'http://0.0.0.0:9644' } }).metricsListener).toBe('http://0.0.0.0:9644');
    expect(() => loadBrokerConfig({ flags: { 'metrics.listener': '9644' } })).toThrow(/Invalid value 9644 for configuration metrics\.listener: Expected http:\/\/HOST:PORT/);
    const described = describeBrokerConfig(loadBrokerConfig({ flags: {} })).find((c) => c.name === 'metrics.listener');
    expect(described).toMatchObject({ value: '', isDefault: true, readOnly: true });
  });
});
