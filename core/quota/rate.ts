/**
 * Kafka's quota arithmetic (org.apache.kafka.common.metrics.stats.Rate over a SampledStat, and
 * QuotaUtils.throttleTime), kept exact so that a client sees the throttle times a Kafka broker
 * would give it.
 *
 * A rate is a windowed sum over `samples` samples of `windowMs` each (quota.window.num,
 * quota.window.size.seconds; Kafka's defaults 11 × 1 s). A sample starts at the first record
 * after the previous one is complete and is forgotten once it is `samples × windowMs` old. The
 * rate is the retained sum divided by the time it covers, which is never taken as less than
 * `samples - 1` whole windows: a client's first bytes are spread over 10 s, not over the
 * milliseconds since it connected. As in Kafka 3.8+, one slot more than `samples` is kept, and a
 * sample is forgotten only once its last record is `samples × windowMs` old (a sample that
 * overlaps the window's start still counts, and the window then spans it whole).
 *
 *      samples (11 × 1 s)                                   now
 *   |----|----|----|----|----|----|----|----|----|----|--:--|
 *   oldest.start ───────────────── elapsed ─────────────────┘   window = max(elapsed, 10 s)
 *
 * Throttle time (QuotaUtils.throttleTime): how long the client must stay quiet for the rate
 * over the same window to fall back to the bound, (rate - bound) / bound × window, rounded to
 * milliseconds. Kafka caps it for request_percentage only, at one window
 * (ClientRequestQuotaManager's maxThrottleTimeMs); byte rates are not capped (a fetch is kept
 * small enough instead, see QuotaManager.maxValueInWindow).
 */

interface Sample {
  /** Start of the sample's window (ms). */
  start: number;
  /** When its last record came (ms). */
  lastEvent: number;
  value: number;
}

export class SampledRate {
  private readonly samples: Sample[] = [];
  private current = 0;

  constructor(
    /** quota.window.num */
    readonly sampleCount: number,
    /** quota.window.size.seconds, in ms */
    readonly windowMs: number,
  ) {
    if (!(sampleCount >= 1) || !(windowMs >= 1)) throw new RangeError(`a rate needs at least one sample of at least 1 ms (got ${sampleCount} × ${windowMs} ms)`);
  }

  /** Adds `value` at `nowMs` (a negative value takes a recorded one back: Kafka's unrecord). */
  record(value: number, nowMs: number): void {
    let sample = this.samples[this.current];
    if (sample === undefined) {
      sample = { start: nowMs, lastEvent: nowMs, value: 0 };
      this.samples.push(sample);
    } else if (nowMs - sample.start >= this.windowMs) {
      // SampledStat.advance: the next slot (samples + 1 of them), reused once all exist.
      this.current = (this.current + 1) % (this.sampleCount + 1);
      sample = this.samples[this.current];
      if (sample === undefined) {
        sample = { start: nowMs, lastEvent: nowMs, value: 0 };
        this.samples.push(sample);
      } else {
        reset(sample, nowMs);
      }
    }
    sample.value += value;
    sample.lastEvent = nowMs;
  }

  /** The rate per second at `nowMs` (Rate.measure). */
  measure(nowMs: number): number {
    this.purge(nowMs);
    let sum = 0;
    for (const s of this.samples) sum += s.value;
    return sum / (this.windowSizeMs(nowMs) / 1000);
  }

  /** The time the rate is taken over (Rate.windowSize): at least `samples - 1` whole windows, at least 1 ms. */
  windowSizeMs(nowMs: number): number {
    this.purge(nowMs);
    if (this.samples.length === 0) this.samples.push({ start: nowMs, lastEvent: nowMs, value: 0 });
    let oldest = this.samples[0].start;
    for (const s of this.samples) if (s.start < oldest) oldest = s.start;
    let elapsed = nowMs - oldest;
    const fullWindows = Math.floor(elapsed / this.windowMs);
    const minFullWindows = this.sampleCount - 1;
    if (fullWindows < minFullWindows) elapsed += (minFullWindows - fullWindows) * this.windowMs;
    return Math.max(elapsed, 1);
  }

  /** SampledStat.purgeObsoleteSamples: a sample whose last record is `samples × windowMs` old restarts empty at `nowMs`. */
  private purge(nowMs: number): void {
    const expireAge = this.sampleCount * this.windowMs;
    for (const s of this.samples) if (nowMs - s.lastEvent >= expireAge) reset(s, nowMs);
  }
}

function reset(s: Sample, nowMs: number): void {
  s.start = nowMs;
  s.lastEvent = nowMs;
  s.value = 0;
}

/**
 * QuotaUtils.throttleTime (boundedThrottleTime with `maxMs`): ms to throttle a client whose rate
 * `rate` (over `windowMs`) exceeds `bound`; 0 within the bound.
 */
export function throttleTimeMs(rate: number, bound: number, windowMs: number, maxMs = Infinity): number {
  if (!(rate > bound)) return 0;
  const ms = Math.round(((rate - bound) / bound) * windowMs);
  return Math.max(0, Math.min(ms, maxMs));
}
