import { loadMetrics, METRICS_FILE, MetricsTable, validateMetrics } from '../lib/metrics';
import { extractDashboardLines, metricParityProblems } from './checks';
import { clone, readMetricsJson, resources, synth } from './helpers';

// shared/metrics.json is read here on its own (not through lib/metrics.ts), so the test compares
// the file the Rust enum exports (and its test keeps equal to the enum) with what the dashboard
// really draws.
const table = readMetricsJson();

/** The template with every dashboard body's text passed through `edit`. */
function editDashboard(json: any, edit: (text: string) => string): any {
  const broken = clone(json);
  for (const id of Object.keys(resources(broken, 'AWS::CloudWatch::Dashboard'))) {
    const join = broken.Resources[id].Properties.DashboardBody['Fn::Join'];
    join[1] = join[1].map((p: any) => (typeof p === 'string' ? edit(p) : p));
  }
  return broken;
}

describe('metric parity: shared/metrics.json vs the synthesized dashboard', () => {
  const { json } = synth();

  test('every metric of the file is drawn once, in its graph with its label, and nothing else of namespace dd0c is', () => {
    expect(metricParityProblems(table, json)).toEqual([]);
    const drawn = extractDashboardLines(json).filter((l) => l.over === '{dd0c,stage}');
    expect(drawn.map((l) => l.metric).sort()).toEqual(table.metrics.map((m) => m.name).sort());
  });

  test('the file names the metrics the functions emit (no more phantom EventsSkipped / ChangeEvents)', () => {
    const names = table.metrics.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['EventsSkipped', 'ChangeEvents', 'DriftFindings', 'DriftReports', 'EventsReceived', 'SlackRateLimited']));
    expect(table).toMatchObject({ namespace: 'dd0c', dimension: 'stage' });
    for (const m of table.metrics) expect(m.meaning).toMatch(/\S/);
  });

  test.each([
    ['a metric of the file is not drawn', (t: string) => t.replace(/MetricName=\\"DriftFindings\\"/g, 'MetricName=\\"Other\\"'), [
      'DriftFindings: drawn 0 times on the dashboard (want exactly 1)',
      'Other: drawn in "Findings" but not in shared/metrics.json (no function emits it)',
    ]],
    ['a metric is drawn over another dimension', (t: string) => t.replace("{dd0c,stage} MetricName=\\\"Findings\\\"", "{dd0c,function} MetricName=\\\"Findings\\\""), [
      'Findings: drawn over {dd0c,function}, shared/metrics.json says {dd0c,stage}',
    ]],
    ['a metric is drawn under another label', (t: string) => t.replace('"label":"skipped"', '"label":"ignored"'), [
      'EventsSkipped: drawn in "Events in" as "ignored", shared/metrics.json says "Events in" as "skipped"',
    ]],
  ])('the parity check fails when %s', (_name, edit, expected) => {
    expect(metricParityProblems(table, editDashboard(json, edit))).toEqual(expected);
  });

  test('the parity check fails when the file lists a metric the dashboard does not draw', () => {
    const more = clone(table);
    more.metrics.push({ name: 'Phantom', unit: 'Count', meaning: 'never', graph: 'Findings', label: 'phantom' });
    expect(metricParityProblems(more, json)).toEqual(['Phantom: drawn 0 times on the dashboard (want exactly 1)']);
  });
});

describe('lib/metrics.ts', () => {
  test('loads shared/metrics.json', () => {
    expect(loadMetrics(METRICS_FILE)).toEqual(table);
  });

  test('refuses a table the dashboard could not draw', () => {
    const bad = clone(table) as unknown as MetricsTable & { metrics: any[] };
    bad.metrics.push({ ...bad.metrics[0] });
    bad.metrics.push({ name: 'Bad"Name', unit: 'Count', meaning: 'x', graph: 'g', label: 'l' });
    bad.metrics.push({ name: 'Latency', unit: 'Milliseconds', meaning: 'x', graph: 'g', label: 'm' });
    expect(() => validateMetrics(bad)).toThrow(
      /metric "EventsReceived" is declared twice[\s\S]*label "received" is used twice in graph "Events in"[\s\S]*metric name "Bad"Name" must be alphanumeric[\s\S]*unit "Milliseconds" is unknown/,
    );
    expect(() => validateMetrics({ namespace: 'dd0c', dimension: 'stage', metrics: [] })).toThrow(/no metrics/);
  });
});
