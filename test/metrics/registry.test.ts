import { MetricsRegistry } from '../../core/metrics/registry';

/** The sample lines of `name` in a rendered scrape (HELP/TYPE excluded). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
}

describe('MetricsRegistry', () => {
  test('renders HELP and TYPE before each metric\'s samples, in registration order, ending in a newline', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'strata_requests_total', help: 'Requests handled.', labelNames: ['request'] });
    const g = r.gauge({ name: 'strata_connections', help: 'Open connections.' });
    c.labels('Produce').inc();
    c.labels('Produce').inc(2);
    c.labels('Fetch').inc();
    g.set(7);
    expect(r.render()).toBe(
      [
        '# HELP strata_requests_total Requests handled.',
        '# TYPE strata_requests_total counter',
        'strata_requests_total{request="Produce"} 3',
        'strata_requests_total{request="Fetch"} 1',
        '# HELP strata_connections Open connections.',
        '# TYPE strata_connections gauge',
        'strata_connections 7',
        '',
      ].join('\n'),
    );
  });

  test('a metric without labels is rendered at 0 from the start; a labelled one has no samples until used', () => {
    const r = new MetricsRegistry();
    r.counter({ name: 'a_total', help: 'A.' });
    r.counter({ name: 'b_total', help: 'B.', labelNames: ['x'] });
    const text = r.render();
    expect(samples(text, 'a_total')).toEqual(['a_total 0']);
    expect(text).toContain('# TYPE b_total counter');
    expect(samples(text, 'b_total')).toEqual([]);
  });

  test('label values are escaped; each label set is its own series and keeps its child', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'bytes_total', help: 'Bytes "in"\nby topic \\ partition.', labelNames: ['topic', 'partition'] });
    const child = c.labels('we"ird\\topic\n', '0');
    child.inc(10);
    expect(c.labels('we"ird\\topic\n', '0')).toBe(child);
    c.labels('we"ird\\topic\n', '1').inc(1);
    const text = r.render();
    expect(text).toContain('# HELP bytes_total Bytes "in"\\nby topic \\\\ partition.\n');
    expect(samples(text, 'bytes_total')).toEqual(['bytes_total{topic="we\\"ird\\\\topic\\n",partition="0"} 10', 'bytes_total{topic="we\\"ird\\\\topic\\n",partition="1"} 1']);
  });

  test('different label sets never share a series, whatever their characters', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'x_total', help: 'X.', labelNames: ['a', 'b'] });
    c.labels('p\u001fq', 'r').inc(1);
    c.labels('p', 'q\u001fr').inc(2);
    c.labels('p","q', 'r').inc(3);
    c.labels('p', 'q","r').inc(4);
    expect(samples(r.render(), 'x_total')).toHaveLength(4);
  });

  test('remove() ends a series', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'y_total', help: 'Y.', labelNames: ['topic'] });
    c.labels('gone').inc();
    c.labels('kept').inc();
    c.remove('gone');
    expect(samples(r.render(), 'y_total')).toEqual(['y_total{topic="kept"} 1']);
  });

  test('gauges go both ways; counters refuse to go down', () => {
    const r = new MetricsRegistry();
    const g = r.gauge({ name: 'g', help: 'G.' });
    g.inc(5);
    g.dec(2);
    expect(g.value).toBe(3);
    const c = r.counter({ name: 'c_total', help: 'C.' });
    expect(() => c.inc(-1)).toThrow(TypeError);
    expect(() => c.inc(NaN)).toThrow(TypeError);
    expect(c.value).toBe(0);
  });

  test('collected metrics are computed at scrape time, with their labels and bigint values', () => {
    const r = new MetricsRegistry();
    let calls = 0;
    let leo = 5n;
    r.collected({
      name: 'strata_log_end_offset',
      help: 'LEO.',
      type: 'gauge',
      labelNames: ['topic', 'partition'],
      collect: (emit) => {
        calls++;
        emit(leo, ['t', '0']);
        emit(2n ** 62n, ['t', '1']);
      },
    });
    expect(calls).toBe(0);
    expect(samples(r.render(), 'strata_log_end_offset')).toEqual(['strata_log_end_offset{topic="t",partition="0"} 5', 'strata_log_end_offset{topic="t",partition="1"} 4611686018427387904']);
    leo = 9n;
    expect(samples(r.render(), 'strata_log_end_offset')[0]).toBe('strata_log_end_offset{topic="t",partition="0"} 9');
    expect(calls).toBe(2);
  });

  test('a snapshot is computed once per scrape, however many metrics read it', () => {
    const r = new MetricsRegistry();
    let computed = 0;
    const stats = r.snapshot(() => ({ n: ++computed }));
    r.collected({ name: 'one', help: '1.', type: 'gauge', collect: (emit) => emit(stats().n) });
    r.collected({ name: 'two', help: '2.', type: 'gauge', collect: (emit) => emit(stats().n * 10) });
    const first = r.render();
    expect(computed).toBe(1);
    expect(samples(first, 'one')).toEqual(['one 1']);
    expect(samples(first, 'two')).toEqual(['two 10']);
    expect(samples(r.render(), 'two')).toEqual(['two 20']);
    expect(computed).toBe(2);
  });

  test('a collector that throws loses only its own metric, and is reported', () => {
    const errors: string[] = [];
    const r = new MetricsRegistry({ onCollectError: (name, e) => errors.push(`${name}: ${(e as Error).message}`) });
    r.gauge({ name: 'before', help: 'B.' }).set(1);
    r.collected({
      name: 'broken',
      help: 'Broken.',
      type: 'gauge',
      collect: (emit) => {
        emit(1);
        throw new Error('store closed');
      },
    });
    r.gauge({ name: 'after', help: 'A.' }).set(2);
    const text = r.render();
    expect(text).not.toContain('broken');
    expect(samples(text, 'before')).toEqual(['before 1']);
    expect(samples(text, 'after')).toEqual(['after 2']);
    expect(errors).toEqual(['broken: store closed']);
  });

  test('declaration mistakes throw: bad names, duplicates, wrong label counts', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter({ name: 'bad-name', help: '' })).toThrow(TypeError);
    expect(() => r.counter({ name: 'ok', help: '', labelNames: ['__reserved'] })).toThrow(TypeError);
    expect(() => r.counter({ name: 'ok2', help: '', labelNames: ['a', 'a'] })).toThrow(TypeError);
    const c = r.counter({ name: 'dup_total', help: '', labelNames: ['a'] });
    expect(() => r.gauge({ name: 'dup_total', help: '' })).toThrow(/registered twice/);
    expect(() => c.labels()).toThrow(/takes 1 label value/);
    expect(() => c.labels('x', 'y')).toThrow(/takes 1 label value/);
    expect(() => c.inc()).toThrow(/has labels/);
    // A collector emitting the wrong number of label values loses its metric, like one that throws.
    const errors: unknown[] = [];
    const r2 = new MetricsRegistry({ onCollectError: (_n, e) => errors.push(e) });
    r2.collected({ name: 'wrong_labels', help: '', type: 'gauge', labelNames: ['a'], collect: (emit) => emit(1) });
    expect(r2.render()).toBe('');
    expect(errors).toHaveLength(1);
  });
});

describe('histograms', () => {
  test('cumulative buckets with le, then +Inf, _sum and _count; an unlabelled one renders at 0 from the start', () => {
    const r = new MetricsRegistry();
    const h = r.histogram({ name: 'strata_request_duration_seconds', help: 'Request time.', labelNames: ['request'], buckets: [0.001, 0.01, 0.1] });
    const idle = r.histogram({ name: 'strata_idle_seconds', help: 'Nothing yet.', buckets: [1] });
    const produce = h.labels('Produce');
    for (const v of [0.0005, 0.001, 0.005, 0.05, 2]) produce.observe(v);
    expect(r.render().split('\n')).toEqual([
      '# HELP strata_request_duration_seconds Request time.',
      '# TYPE strata_request_duration_seconds histogram',
      'strata_request_duration_seconds_bucket{request="Produce",le="0.001"} 2',
      'strata_request_duration_seconds_bucket{request="Produce",le="0.01"} 3',
      'strata_request_duration_seconds_bucket{request="Produce",le="0.1"} 4',
      'strata_request_duration_seconds_bucket{request="Produce",le="+Inf"} 5',
      'strata_request_duration_seconds_sum{request="Produce"} 2.0565',
      'strata_request_duration_seconds_count{request="Produce"} 5',
      '# HELP strata_idle_seconds Nothing yet.',
      '# TYPE strata_idle_seconds histogram',
      'strata_idle_seconds_bucket{le="1"} 0',
      'strata_idle_seconds_bucket{le="+Inf"} 0',
      'strata_idle_seconds_sum 0',
      'strata_idle_seconds_count 0',
      '',
    ]);
    idle.observe(0.5);
    expect(samples(r.render(), 'strata_idle_seconds_count')).toEqual(['strata_idle_seconds_count 1']);
  });

  test('buckets must be finite and increasing, and le is not a label of one\'s own', () => {
    const r = new MetricsRegistry();
    expect(() => r.histogram({ name: 'a_seconds', help: 'x', buckets: [] })).toThrow(/increasing/);
    expect(() => r.histogram({ name: 'b_seconds', help: 'x', buckets: [1, 1] })).toThrow(/increasing/);
    expect(() => r.histogram({ name: 'c_seconds', help: 'x', buckets: [1, Infinity] })).toThrow(/finite/);
    expect(() => r.histogram({ name: 'd_seconds', help: 'x', labelNames: ['le'], buckets: [1] })).toThrow(/bucket label/);
  });
});
