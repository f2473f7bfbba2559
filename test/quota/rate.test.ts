import { SampledRate, throttleTimeMs } from '../../core/quota/rate';

/**
 * Kafka's Rate over a SampledStat and QuotaUtils.throttleTime, checked against values worked out
 * from Kafka's code (RateTest, ClientQuotaManagerTest) for quota.window.num=11,
 * quota.window.size.seconds=1.
 */
describe('SampledRate', () => {
  test('a first burst is spread over samples - 1 whole windows', () => {
    const r = new SampledRate(11, 1000);
    r.record(1000, 0);
    // 1000 bytes at t=0, measured at t=0: the window is 10 s, not 0 ms.
    expect(r.windowSizeMs(0)).toBe(10_000);
    expect(r.measure(0)).toBe(100);
    // 10 whole windows are assumed, plus the elapsed part of the current one.
    expect(r.windowSizeMs(500)).toBe(10_500);
    expect(r.windowSizeMs(1500)).toBe(10_500);
    expect(r.windowSizeMs(10_250)).toBe(10_250);
  });

  test('once 10 windows have passed the rate is the sum over the time the samples cover', () => {
    const r = new SampledRate(11, 1000);
    for (let t = 0; t < 12_000; t += 100) r.record(100, t); // 1000 per second
    expect(r.measure(11_999)).toBeCloseTo(1000, -1);
    expect(r.windowSizeMs(11_999)).toBeGreaterThanOrEqual(10_000);
    expect(r.windowSizeMs(11_999)).toBeLessThanOrEqual(12_000);
  });

  test('a sample is forgotten once its last record is samples × window old', () => {
    const r = new SampledRate(11, 1000);
    r.record(5000, 0);
    expect(r.measure(10_999)).toBeCloseTo(5000 / 10.999, 6);
    // At 11 s the only sample has aged out: nothing retained, the rate is 0.
    expect(r.measure(11_000)).toBe(0);
  });

  test('unrecording (a negative value) takes a recorded value back', () => {
    const r = new SampledRate(11, 1000);
    r.record(700, 0);
    r.record(300, 10);
    r.record(-300, 10);
    expect(r.measure(10)).toBeCloseTo(700 / 10.01, 9);
  });

  test('refuses a rate without samples', () => {
    expect(() => new SampledRate(0, 1000)).toThrow(RangeError);
  });
});

describe('throttleTimeMs (QuotaUtils.throttleTime)', () => {
  test('(rate - bound) / bound × window, rounded; 0 within the bound', () => {
    // ClientQuotaManagerTest: 400 bytes/s over a 10 s window against a quota of 100: 30 s.
    expect(throttleTimeMs(400, 100, 10_000)).toBe(30_000);
    expect(throttleTimeMs(100, 100, 10_000)).toBe(0);
    expect(throttleTimeMs(50, 100, 10_000)).toBe(0);
    expect(throttleTimeMs(100.04, 100, 10_500)).toBe(4);
  });

  test('capped where a cap is given (request quotas: one window)', () => {
    expect(throttleTimeMs(1000, 10, 10_000, 1000)).toBe(1000);
  });
});

/**
 * A client that sends as fast as it may: a request of `requestBytes` whenever it is not
 * throttled, throttled for the time each answer says. Returns the bytes accepted within
 * [0, durationMs).
 */
function flatOut(quota: number, requestBytes: number, durationMs: number, sendGapMs = 2): number {
  const r = new SampledRate(11, 1000);
  let t = 0;
  let sent = 0;
  while (t < durationMs) {
    r.record(requestBytes, t);
    sent += requestBytes;
    const rate = r.measure(t);
    const throttle = throttleTimeMs(rate, quota, r.windowSizeMs(t));
    t += sendGapMs + throttle;
  }
  return sent;
}

/**
 * Kafka's quotas let a client that starts flat out send (samples - 1) windows' worth at once, and
 * again whenever that burst's sample ages out (every `samples` windows): over 20 s from its start
 * a client gets about 1.1 × its quota, over a long run its quota. test/integration/quotas.test.ts
 * measures a real producer the same way.
 */
test('a client sending flat out averages about its quota: within 20% over its first 20 s, within 2% over 110 s', () => {
  const MB = 1024 * 1024;
  for (const requestBytes of [16 * 1024, 64 * 1024]) {
    const first20s = flatOut(MB, requestBytes, 20_000) / 20;
    expect(first20s).toBeGreaterThan(1.0 * MB);
    expect(first20s).toBeLessThan(1.15 * MB);
    const long = flatOut(MB, requestBytes, 110_000) / 110;
    expect(Math.abs(long / MB - 1)).toBeLessThan(0.02);
  }
});
