import { isStrataError } from '../../core/common/errors';
import { DEFAULT_LOG_CONFIG, effectiveCompactionConfig, effectiveLogConfig, LogConfig } from '../../core/log/logConfig';

describe('effectiveLogConfig', () => {
  it('turns Kafka\'s Long.MAX_VALUE "never" into Infinity, as a number or a bigint', () => {
    const e = effectiveLogConfig({ ...DEFAULT_LOG_CONFIG, flushMessages: 9223372036854775807n, flushMs: 9223372036854775807 });
    expect([e.flushMessages, e.flushMs]).toEqual([Infinity, Infinity]);
    expect(effectiveLogConfig({ ...DEFAULT_LOG_CONFIG, flushMessages: 10n }).flushMessages).toBe(10);
    expect(effectiveLogConfig(DEFAULT_LOG_CONFIG)).toMatchObject({ segmentBytes: 1073741824, indexIntervalBytes: 4096, segmentIndexBytes: 10485760, retentionBytes: -1 });
  });

  it('fills optional values', () => {
    const { segmentIndexBytes, retentionMs, retentionBytes, ...required } = DEFAULT_LOG_CONFIG;
    void segmentIndexBytes;
    void retentionMs;
    void retentionBytes;
    expect(effectiveLogConfig(required as LogConfig)).toMatchObject({ segmentIndexBytes: 10485760, retentionMs: -1, retentionBytes: -1 });
  });

  it('rejects values the log cannot work with', () => {
    const bad: Partial<LogConfig>[] = [
      { segmentBytes: 13 },
      { segmentBytes: 2 ** 31 },
      { segmentBytes: 1.5e3 + 0.5 },
      { segmentMs: 0 },
      { segmentIndexBytes: 3 },
      { indexIntervalBytes: -1 },
      { flushMessages: 0 },
      { maxMessageBytes: -1 },
      { messageTimestampType: 'Whenever' as never },
      { retentionMs: -2 },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        effectiveLogConfig({ ...DEFAULT_LOG_CONFIG, ...b });
      } catch (e) {
        err = e;
      }
      expect([b, isStrataError(err, 'CONFIG_INVALID')]).toEqual([b, true]);
    }
  });
});

describe('effectiveCompactionConfig', () => {
  it("fills Kafka's defaults and turns Long.MAX_VALUE into Infinity", () => {
    expect(effectiveCompactionConfig({ cleanupPolicy: ['delete'] })).toEqual({
      compact: false,
      deleteRetentionMs: 86400000,
      minCleanableDirtyRatio: 0.5,
      minCompactionLagMs: 0,
      maxCompactionLagMs: Infinity,
    });
    expect(effectiveCompactionConfig({ cleanupPolicy: ['compact', 'delete'], maxCompactionLagMs: 9223372036854775807n, deleteRetentionMs: 10n })).toMatchObject({
      compact: true,
      deleteRetentionMs: 10,
      maxCompactionLagMs: Infinity,
    });
  });

  it('rejects values the cleaner cannot work with', () => {
    for (const bad of [
      { cleanupPolicy: ['compact', 'shred'] as never },
      { cleanupPolicy: ['compact'] as const, minCleanableDirtyRatio: 1.5 },
      { cleanupPolicy: ['compact'] as const, deleteRetentionMs: -1 },
      { cleanupPolicy: ['compact'] as const, maxCompactionLagMs: 0 },
    ]) {
      let err: unknown;
      try {
        effectiveCompactionConfig(bad);
      } catch (e) {
        err = e;
      }
      expect(isStrataError(err, 'CONFIG_INVALID')).toBe(true);
    }
  });
});
