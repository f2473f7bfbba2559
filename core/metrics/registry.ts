import { escapeHelp, formatLabels, formatValue, isValidLabelName, isValidMetricName } from './exposition';

/**
 * A small metrics registry rendered in Prometheus text format 0.0.4 (exposition.ts).
 *
 * - `counter` / `gauge`: values kept here and changed by the code that observes them. A labelled
 *   metric hands out one child per label set (`labels(...)`); callers on a hot path keep the
 *   child, so an observation is a plain number increment.
 * - `histogram`: observations counted into fixed buckets (upper bounds), with their sum and
 *   count, rendered as Prometheus' cumulative `_bucket{le=…}`, `_sum` and `_count` series.
 * - `collected`: samples computed when scraped, from a callback (log end offsets, tier stats,
 *   process memory): nothing is computed between scrapes.
 * - `snapshot`: one value computed at most once per scrape and shared by several collected
 *   metrics (TierManager.stats() feeds a dozen of them).
 *
 * Metrics are rendered in registration order. A callback that throws loses only its own metric
 * for that scrape (reported through `onCollectError`); the rest of the scrape is served.
 * Mistakes in declaring metrics (a bad name, a duplicate, a wrong number of label values) are
 * programming errors and throw TypeError.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';
export type SampleValue = number | bigint;

export interface MetricOptions {
  /** Prometheus name, e.g. strata_requests_total. */
  name: string;
  /** One line: what the value means. */
  help: string;
  /** Label names, in the order `labels(...)` and `emit` take their values. */
  labelNames?: readonly string[];
}

export interface HistogramOptions extends MetricOptions {
  /** Bucket upper bounds, increasing (the +Inf bucket is implicit). */
  buckets: readonly number[];
}

export interface CollectedOptions extends MetricOptions {
  type: 'counter' | 'gauge';
  /** Called at scrape time; `emit` once per sample, with one label value per label name. */
  collect: (emit: (value: SampleValue, labelValues?: readonly string[]) => void) => void;
}

interface Renderable {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** Appends the sample lines (without HELP/TYPE) to `out`. */
  renderSamples(out: string[]): void;
}

const NO_LABELS: readonly string[] = [];
/** One map key per label set (JSON: no two different sets share one). */
const keyOf = (values: readonly string[]): string => (values.length === 0 ? '' : JSON.stringify(values));

export class CounterChild {
  value = 0;

  inc(n = 1): void {
    if (!(n >= 0)) throw new TypeError(`a counter only goes up (inc(${n}))`);
    this.value += n;
  }
}

export class GaugeChild {
  value = 0;

  set(v: number): void {
    this.value = v;
  }

  inc(n = 1): void {
    this.value += n;
  }

  dec(n = 1): void {
    this.value -= n;
  }
}

export class HistogramChild {
  /** Per bucket (not cumulative): observations above the previous bound, up to this one. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

abstract class Stored<C extends object> implements Renderable {
  abstract readonly type: MetricType;
  private readonly children = new Map<string, { values: readonly string[]; child: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  protected abstract create(): C;

  /** The child for this label set (created at 0 on first use). Keep it: lookups cost a join. */
  labels(...values: string[]): C {
    checkLabelValues(this.name, this.labelNames, values);
    const key = keyOf(values);
    let entry = this.children.get(key);
    if (entry === undefined) {
      entry = { values: [...values], child: this.create() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  /** Drops a label set's series (a deleted topic's). A child kept by a caller stops being rendered. */
  remove(...values: string[]): void {
    checkLabelValues(this.name, this.labelNames, values);
    this.children.delete(keyOf(values));
  }

  /** The child of the metric without labels. */
  protected unlabelled(): C {
    if (this.labelNames.length > 0) throw new TypeError(`${this.name} has labels (${this.labelNames.join(', ')}): use labels(...)`);
    return this.labels();
  }

  renderSamples(out: string[]): void {
    // A metric without labels is one series, rendered (at 0) from the start.
    if (this.labelNames.length === 0) this.labels();
    for (const { values, child } of this.children.values()) this.renderChild(out, values, child);
  }

  protected abstract renderChild(out: string[], values: readonly string[], child: C): void;
}

abstract class Valued<C extends { value: number }> extends Stored<C> {
  protected renderChild(out: string[], values: readonly string[], child: C): void {
    out.push(`${this.name}${formatLabels(this.labelNames, values)} ${formatValue(child.value)}`);
  }
}

export class Histogram extends Stored<HistogramChild> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[]) {
    super(name, help, labelNames);
  }

  protected create(): HistogramChild {
    return new HistogramChild(this.bounds);
  }

  observe(v: number): void {
    this.unlabelled().observe(v);
  }

  protected renderChild(out: string[], values: readonly string[], child: HistogramChild): void {
    const withLe = [...this.labelNames, 'le'];
    let cumulative = 0;
    child.bounds.forEach((bound, i) => {
      cumulative += child.counts[i];
      out.push(`${this.name}_bucket${formatLabels(withLe, [...values, formatValue(bound)])} ${cumulative}`);
    });
    out.push(`${this.name}_bucket${formatLabels(withLe, [...values, '+Inf'])} ${child.count}`);
    out.push(`${this.name}_sum${formatLabels(this.labelNames, values)} ${formatValue(child.sum)}`);
    out.push(`${this.name}_count${formatLabels(this.labelNames, values)} ${child.count}`);
  }
}

export class Counter extends Valued<CounterChild> {
  readonly type = 'counter';

  protected create(): CounterChild {
    return new CounterChild();
  }

  inc(n = 1): void {
    this.unlabelled().inc(n);
  }

  get value(): number {
    return this.unlabelled().value;
  }
}

export class Gauge extends Valued<GaugeChild> {
  readonly type = 'gauge';

  protected create(): GaugeChild {
    return new GaugeChild();
  }

  set(v: number): void {
    this.unlabelled().set(v);
  }

  inc(n = 1): void {
    this.unlabelled().inc(n);
  }

  dec(n = 1): void {
    this.unlabelled().dec(n);
  }

  get value(): number {
    return this.unlabelled().value;
  }
}

class Collected implements Renderable {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    private readonly collect: CollectedOptions['collect'],
  ) {}

  renderSamples(out: string[]): void {
    this.collect((value, labelValues = NO_LABELS) => {
      checkLabelValues(this.name, this.labelNames, labelValues);
      out.push(`${this.name}${formatLabels(this.labelNames, labelValues)} ${formatValue(value)}`);
    });
  }
}

function checkLabelValues(name: string, labelNames: readonly string[], values: readonly string[]): void {
  if (values.length !== labelNames.length) {
    throw new TypeError(`${name} takes ${labelNames.length} label value(s) (${labelNames.join(', ')}), got ${values.length}`);
  }
}

export interface MetricsRegistryOptions {
  /** A collected metric's callback threw: its samples are left out of this scrape. */
  onCollectError?: (metric: string, error: unknown) => void;
}

export class MetricsRegistry {
  private readonly metrics: Renderable[] = [];
  private readonly names = new Set<string>();
  private scrapes = 0;

  constructor(private readonly opts: MetricsRegistryOptions = {}) {}

  counter(opts: MetricOptions): Counter {
    return this.add(new Counter(opts.name, opts.help, this.checked(opts)));
  }

  gauge(opts: MetricOptions): Gauge {
    return this.add(new Gauge(opts.name, opts.help, this.checked(opts)));
  }

  histogram(opts: HistogramOptions): Histogram {
    const labelNames = this.checked(opts);
    if (labelNames.includes('le')) throw new TypeError(`${opts.name}: 'le' is the bucket label of a histogram`);
    const b = opts.buckets;
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]))) throw new TypeError(`${opts.name}: buckets must be finite and increasing`);
    return this.add(new Histogram(opts.name, opts.help, labelNames, [...b]));
  }

  collected(opts: CollectedOptions): void {
    if (opts.type !== 'counter' && opts.type !== 'gauge') throw new TypeError(`unknown metric type ${String(opts.type)}`);
    this.add(new Collected(opts.name, opts.help, opts.type, this.checked(opts), opts.collect));
  }

  /** `compute` runs at most once per scrape, when first asked for during it. */
  snapshot<T>(compute: () => T): () => T {
    let at = -1;
    let value: T;
    return () => {
      if (at !== this.scrapes) {
        value = compute();
        at = this.scrapes;
      }
      return value;
    };
  }

  /** Every metric in text format 0.0.4. */
  render(): string {
    this.scrapes++;
    const out: string[] = [];
    for (const m of this.metrics) {
      const samples: string[] = [];
      try {
        m.renderSamples(samples);
      } catch (e) {
        this.opts.onCollectError?.(m.name, e);
        continue;
      }
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`);
      for (const s of samples) out.push(s);
    }
    return out.length === 0 ? '' : out.join('\n') + '\n';
  }

  private checked(opts: MetricOptions): readonly string[] {
    if (!isValidMetricName(opts.name)) throw new TypeError(`invalid metric name '${opts.name}'`);
    if (this.names.has(opts.name)) throw new TypeError(`metric ${opts.name} is registered twice`);
    const labelNames = [...(opts.labelNames ?? NO_LABELS)];
    for (const l of labelNames) if (!isValidLabelName(l)) throw new TypeError(`invalid label name '${l}' in ${opts.name}`);
    if (new Set(labelNames).size !== labelNames.length) throw new TypeError(`${opts.name} repeats a label name`);
    return labelNames;
  }

  private add<M extends Renderable>(m: M): M {
    this.names.add(m.name);
    this.metrics.push(m);
    return m;
  }
}
