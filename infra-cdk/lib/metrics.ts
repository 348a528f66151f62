import * as fs from 'fs';
import * as path from 'path';

/**
 * The metrics the Rust functions emit as CloudWatch Embedded Metric Format (`shared/metrics.json`,
 * exported from the Rust enum `dd0c_shared::telemetry::Metric`, whose test keeps the file equal
 * to the enum). The operations dashboard draws one line per metric, grouped into graphs as the
 * file says; test/ops.test.ts checks the synthesized dashboard against the file both ways.
 */
export const METRIC_UNITS = ['Count'] as const;
export type MetricUnit = (typeof METRIC_UNITS)[number];

export interface MetricSpec {
  /** CloudWatch metric name (`EventsIngested`). */
  readonly name: string;
  readonly unit: MetricUnit;
  /** What one unit of it is, in one line. */
  readonly meaning: string;
  /** Title of the dashboard graph that draws it. */
  readonly graph: string;
  /** Its line's label in that graph. */
  readonly label: string;
}

export interface MetricsTable {
  readonly namespace: string;
  /** The one dimension every metric carries (the emitting stage). */
  readonly dimension: string;
  readonly metrics: MetricSpec[];
}

/** `<repo>/shared/metrics.json`, resolved from this file (infra-cdk/lib). */
export const METRICS_FILE = path.resolve(__dirname, '..', '..', 'shared', 'metrics.json');

export function loadMetrics(file: string = METRICS_FILE): MetricsTable {
  const table = JSON.parse(fs.readFileSync(file, 'utf8')) as MetricsTable;
  validateMetrics(table, file);
  return table;
}

/** Fails synth early, with a message that says what to fix, when the table is inconsistent. */
export function validateMetrics(table: MetricsTable, source = 'metrics table'): void {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9_.-]+$/.test(table.namespace ?? '')) problems.push(`namespace "${table.namespace}" is not a CloudWatch namespace`);
  if (!/^[A-Za-z0-9_-]+$/.test(table.dimension ?? '')) problems.push(`dimension "${table.dimension}" is not a dimension name`);
  const names = new Set<string>();
  const lines = new Set<string>();
  for (const m of table.metrics ?? []) {
    // The name goes into a SEARCH expression between double quotes.
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(m.name ?? '')) problems.push(`metric name "${m.name}" must be alphanumeric`);
    if (names.has(m.name)) problems.push(`metric "${m.name}" is declared twice`);
    names.add(m.name);
    if (!(METRIC_UNITS as readonly string[]).includes(m.unit)) {
      problems.push(`${m.name}: unit "${m.unit}" is unknown to the CDK app (known: ${METRIC_UNITS.join(', ')})`);
    }
    if (!m.graph || !m.label) problems.push(`${m.name}: graph and label are required`);
    const line = `${m.graph}\u0000${m.label}`;
    if (lines.has(line)) problems.push(`${m.name}: label "${m.label}" is used twice in graph "${m.graph}"`);
    lines.add(line);
  }
  if ((table.metrics ?? []).length === 0) problems.push('no metrics');
  if (problems.length > 0) {
    throw new Error(`Invalid ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

/** The metrics by graph title, graphs in the order of their first metric in the file. */
export function metricGraphs(table: MetricsTable): [string, MetricSpec[]][] {
  const graphs = new Map<string, MetricSpec[]>();
  for (const m of table.metrics) {
    const g = graphs.get(m.graph) ?? [];
    g.push(m);
    graphs.set(m.graph, g);
  }
  return [...graphs.entries()];
}

/** How a graph sums up each unit over a period. */
export const STATISTIC_OF_UNIT: Record<MetricUnit, string> = { Count: 'Sum' };
