/**
 * Counters and histograms kept as plain numbers, and shown to prom-client only when Prometheus
 * scrapes: prom-client's own `inc()`/`observe()` hash their labels on every call, which the
 * request path should not pay. Each series is a small object the caller keeps and bumps.
 */

export type Labels = Record<string, string>;

/** What prom-client's registry reads from a metric (`registerMetric`). */
export interface CollectedMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: Array<{ value: number; labels: Labels; metricName?: string }> }>;
}

export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
}

export class HistogramSeries {
  /** counts[i]: observations at most buckets[i]; the last slot: above every bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    readonly buckets: readonly number[],
  ) {
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A family's series by key, each created on first use (its labels built only then) and read at scrape time. */
abstract class Family<S> {
  readonly aggregator = 'sum' as const;
  protected readonly all = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  protected abstract create(labels: Labels): S;

  series(key: string, labels: () => Labels): S {
    let found = this.all.get(key);
    if (found === undefined) {
      found = this.create(labels());
      this.all.set(key, found);
    }
    return found;
  }
}

export class CounterFamily extends Family<CounterSeries> implements CollectedMetric {
  readonly type = 'counter' as const;

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.all.values()].map((s) => ({ value: s.value, labels: s.labels })) };
  }
}

export class HistogramFamily extends Family<HistogramSeries> implements CollectedMetric {
  readonly type = 'histogram' as const;

  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.buckets);
  }

  async get() {
    const values: Array<{ value: number; labels: Labels; metricName: string }> = [];
    for (const s of this.all.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: i < this.buckets.length ? String(this.buckets[i]) : '+Inf' }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum }, { metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** A gauge whose values are read from the gateway when scraped. */
export class GaugeFamily implements CollectedMetric {
  readonly type = 'gauge' as const;
  readonly aggregator = 'sum' as const;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => Array<{ labels: Labels; value: number }>,
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }
}
