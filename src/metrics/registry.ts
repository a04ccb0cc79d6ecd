// A small Prometheus registry: counters, gauges and histograms with fixed label names, rendered in the text
// exposition format (version 0.0.4). No HTTP types here; src/metrics/routes.ts serves it.

type LabelValues<L extends string> = { [K in L]: string };

/** Label sets beyond this many per metric are folded into one series whose labels are all "other". */
const MAX_SERIES = 1000;

abstract class Metric<L extends string> {
  protected readonly series = new Map<string, { labels: string[]; value: unknown }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`invalid metric name ${name}`);
  }
  abstract readonly type: "counter" | "gauge" | "histogram";

  protected slot<V>(labels: Partial<LabelValues<L>> | undefined, init: () => V): V {
    // Hot path (every request updates a few series): build the key without intermediate arrays.
    const names = this.labelNames;
    let key = "";
    for (let i = 0; i < names.length; i++) key += (i ? "\u0000" : "") + (labels?.[names[i]!] ?? "");
    let entry = this.series.get(key);
    if (entry) return entry.value as V;
    let values = names.map((n) => String(labels?.[n] ?? ""));
    if (!entry) {
      if (this.series.size >= MAX_SERIES) {
        values = this.labelNames.map(() => "other");
        key = values.join("\u0000");
        entry = this.series.get(key);
      }
      if (!entry) {
        entry = { labels: values, value: init() };
        this.series.set(key, entry);
      }
    }
    return entry.value as V;
  }

  protected labelText(values: string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
    return pairs.length ? `{${pairs.join(",")}}` : "";
  }

  /** Called at scrape time, before rendering (gauges read their source here). */
  collect(): void {}

  render(): string {
    this.collect();
    const lines = [`# HELP ${this.name} ${this.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.series.values()) this.renderSeries(lines, labels, value);
    return lines.join("\n") + "\n";
  }
  protected abstract renderSeries(lines: string[], labels: string[], value: unknown): void;
}

export class Counter<L extends string = never> extends Metric<L> {
  readonly type = "counter";
  constructor(name: string, help: string, labelNames: readonly L[]) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.inc(undefined, 0); // a label-less counter shows 0 from the start
  }
  inc(labels?: Partial<LabelValues<L>>, by = 1): void {
    if (!(by >= 0)) return; // counters only go up
    const cell = this.slot(labels, () => ({ n: 0 }));
    cell.n += by;
  }
  /** The mutable cell of one series, for callers that cache it on a hot path (`cell.n += 1`). */
  cell(labels?: Partial<LabelValues<L>>): { n: number } {
    return this.slot(labels, () => ({ n: 0 }));
  }
  /** Current value of one series (0 if never incremented). */
  get(labels?: Partial<LabelValues<L>>): number {
    const key = this.labelNames.map((n) => String(labels?.[n] ?? "")).join("\u0000");
    return (this.series.get(key)?.value as { n: number } | undefined)?.n ?? 0;
  }
  protected renderSeries(lines: string[], labels: string[], value: unknown): void {
    lines.push(`${this.name}${this.labelText(labels)} ${formatNumber((value as { n: number }).n)}`);
  }
}

export class Gauge<L extends string = never> extends Metric<L> {
  readonly type = "gauge";
  constructor(name: string, help: string, labelNames: readonly L[]) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.set(0);
  }
  private collector: ((gauge: this) => void) | null = null;
  set(value: number, labels?: Partial<LabelValues<L>>): void {
    this.slot(labels, () => ({ n: 0 })).n = value;
  }
  inc(labels?: Partial<LabelValues<L>>, by = 1): void {
    this.slot(labels, () => ({ n: 0 })).n += by;
  }
  dec(labels?: Partial<LabelValues<L>>, by = 1): void {
    this.slot(labels, () => ({ n: 0 })).n -= by;
  }
  /** Sets the function that refreshes this gauge at scrape time (replaces any earlier one). */
  collectWith(fn: ((gauge: this) => void) | null): void {
    this.collector = fn;
  }
  override collect(): void {
    if (!this.collector) return;
    try {
      this.collector(this);
    } catch {
      this.series.clear(); // source unavailable (e.g. database gone): leave the gauge out rather than lie
    }
  }
  protected renderSeries(lines: string[], labels: string[], value: unknown): void {
    lines.push(`${this.name}${this.labelText(labels)} ${formatNumber((value as { n: number }).n)}`);
  }
}

export interface HistogramCell {
  counts: number[]; // per bucket, not cumulative
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Metric<L> {
  readonly type = "histogram";
  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new Error("buckets must increase");
  }
  observe(value: number, labels?: Partial<LabelValues<L>>): void {
    this.observeCell(this.cell(labels), value);
  }
  /** The cell of one series, for callers that cache it on a hot path (see observeCell). */
  cell(labels?: Partial<LabelValues<L>>): HistogramCell {
    return this.slot<HistogramCell>(labels, () => ({ counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
  }
  observeCell(cell: HistogramCell, value: number): void {
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        cell.counts[i]!++;
        break;
      }
    }
    cell.sum += value;
    cell.count++;
  }
  protected renderSeries(lines: string[], labels: string[], value: unknown): void {
    const cell = value as HistogramCell;
    let cumulative = 0;
    this.buckets.forEach((b, i) => {
      cumulative += cell.counts[i]!;
      lines.push(`${this.name}_bucket${this.labelText(labels, ["le", formatNumber(b)])} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${this.labelText(labels, ["le", "+Inf"])} ${cell.count}`);
    lines.push(`${this.name}_sum${this.labelText(labels)} ${formatNumber(cell.sum)}`);
    lines.push(`${this.name}_count${this.labelText(labels)} ${cell.count}`);
  }
}

export class Registry {
  private readonly metrics: Metric<string>[] = [];
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.add(new Counter<L>(name, help, labelNames));
  }
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.add(new Gauge<L>(name, help, labelNames));
  }
  histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return this.add(new Histogram<L>(name, help, labelNames, buckets));
  }
  private add<M extends Metric<any>>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }
  /** The whole registry in Prometheus text format. */
  render(): string {
    return this.metrics.map((m) => m.render()).join("");
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}
