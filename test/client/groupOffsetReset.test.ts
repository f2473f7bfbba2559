import { parseDateTime, parseIsoDuration, parseTopicArg } from '../../core/client/groupOffsetReset';

describe('parseDateTime (--to-datetime)', () => {
  it("reads Kafka's format as UTC when no zone is given", () => {
    expect(parseDateTime('2024-05-01T12:34:56.789')).toBe(Date.UTC(2024, 4, 1, 12, 34, 56, 789));
    expect(parseDateTime('2024-05-01T12:34:56.789Z')).toBe(Date.UTC(2024, 4, 1, 12, 34, 56, 789));
  });

  it('applies a zone offset in every form Kafka accepts', () => {
    const utc = Date.UTC(2024, 4, 1, 10, 0, 0, 0);
    expect(parseDateTime('2024-05-01T12:00:00.000+02:00')).toBe(utc);
    expect(parseDateTime('2024-05-01T12:00:00.000+0200')).toBe(utc);
    expect(parseDateTime('2024-05-01T12:00:00.000+02')).toBe(utc);
    expect(parseDateTime('2024-05-01T05:30:00.000-04:30')).toBe(utc);
  });

  it('allows the milliseconds to be left out or shortened', () => {
    expect(parseDateTime('2024-05-01T12:00:00')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0));
    expect(parseDateTime('2024-05-01T12:00:00.5')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 500));
  });

  it.each(['2024-05-01', '2024-05-01 12:00:00.000', '2024-13-01T00:00:00.000', '2023-02-29T00:00:00.000', '2024-05-01T24:00:00.000', '1969-12-31T23:59:59.999', 'yesterday', '2024-05-01T12:00:00.000+25:00'])(
    'refuses %s with the expected format in the message',
    (text) => {
      expect(() => parseDateTime(text)).toThrow(/YYYY-MM-DDTHH:mm:SS\.sss/);
    },
  );

  it('accepts 29 February in a leap year', () => {
    expect(parseDateTime('2024-02-29T00:00:00.000')).toBe(Date.UTC(2024, 1, 29));
  });
});

describe('parseIsoDuration (--by-duration)', () => {
  it.each([
    ['PT30M', 30n * 60_000n],
    ['PT1H', 3_600_000n],
    ['P1D', 86_400_000n],
    ['P1DT2H3M4S', 86_400_000n + 2n * 3_600_000n + 3n * 60_000n + 4_000n],
    ['PT0.5S', 500n],
    ['PT1,25S', 1_250n],
    ['pt10s', 10_000n],
    ['-PT1H', -3_600_000n],
    ['PT-1.5S', -1_500n],
    ['P0D', 0n],
  ])('%s is %p ms', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it.each(['', 'P', 'PT', '1H', 'PT1.5H', 'P1H', 'PT1S2M', 'P1W'])('refuses %p', (text) => {
    expect(() => parseIsoDuration(text)).toThrow(/ISO-8601 duration/);
  });
});

describe('parseTopicArg', () => {
  it("reads Kafka's topic[:partitions] syntax", () => {
    expect(parseTopicArg('orders')).toEqual({ topic: 'orders', partitions: null });
    expect(parseTopicArg('orders:0,2,5')).toEqual({ topic: 'orders', partitions: [0, 2, 5] });
  });

  it.each(['orders:', ':1', 'orders:x', 'orders:1:2', 'orders:-1', ''])('refuses %p', (arg) => {
    expect(() => parseTopicArg(arg)).toThrow();
  });
});
