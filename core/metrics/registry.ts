import { escapeHelp, formatLabels, formatValue, isValidLabelName, isValidMetricName } from './exposition';

/**
 * A small metrics registry rendered in Prometheus text format 0.0.4 (exposition.ts).
 *
 * - `counter` / `gauge`: values kept here and changed by the code that observes them. A labelled
 *   metric hands out one child per label set (`labels(...)`); callers on a hot path keep the
 *   child, so an observation is a plain number increment.
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
export type MetricType = 'counter' | 'gauge';
export type SampleValue = number | bigint;

export interface MetricOptions {
  /** Prometheus name, e.g. strata_requests_total. */
  name: string;
  /** One line: what the value means. */
  help: string;
  /** Label names, in the order `labels(...)` and `emit` take their values. */
  labelNames?: readonly string[];
}

export interface CollectedOptions extends MetricOptions {
  type: MetricType;
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

abstract class Stored<C extends { value: number }> implements Renderable {
  abstract readonly type: MetricType;
  private readonly children = new Map<string, { values: readonly string[]; child: C }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    // A metric without labels is one series, rendered (at 0) from the start.
    if (labelNames.length === 0) this.labels();
  }

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
    for (const { values, child } of this.children.values()) {
      out.push(`${this.name}${formatLabels(this.labelNames, values)} ${formatValue(child.value)}`);
    }
  }
}

export class Counter extends Stored<CounterChild> {
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

export class Gauge extends Stored<GaugeChild> {
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
