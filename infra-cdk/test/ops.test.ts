import { Match } from 'aws-cdk-lib/assertions';
import { FUNCTION_NAMES } from '../lib/functions';
import { clone, readRoutingJson, resources, synth } from './helpers';

const routing = readRoutingJson();

function alarmProblems(json: any): string[] {
  const problems: string[] = [];
  const alarms = Object.values<any>(resources(json, 'AWS::CloudWatch::Alarm'));
  const functions = resources(json, 'AWS::Lambda::Function');
  const queues = resources(json, 'AWS::SQS::Queue');
  const [topicId] = Object.keys(resources(json, 'AWS::SNS::Topic'));
  const refersTo = (a: any, id: string) => JSON.stringify(a.Properties).includes(`"${id}"`);

  for (const a of alarms) {
    if (JSON.stringify(a.Properties.AlarmActions) !== JSON.stringify([{ Ref: topicId }])) {
      problems.push(`${a.Properties.AlarmName}: does not notify ops-alerts`);
    }
  }
  for (const [id, f] of Object.entries<any>(functions)) {
    const name = String(f.Properties.FunctionName);
    if (!name.startsWith('dd0c-')) continue;
    const errorRate = alarms.find(
      (a) =>
        refersTo(a, id) &&
        a.Properties.Threshold === 5 &&
        a.Properties.ComparisonOperator === 'GreaterThanThreshold' &&
        (a.Properties.Metrics ?? []).some((m: any) => m.MetricStat?.Metric?.MetricName === 'Errors' && m.MetricStat.Period === 300) &&
        (a.Properties.Metrics ?? []).some((m: any) => m.MetricStat?.Metric?.MetricName === 'Invocations') &&
        (a.Properties.Metrics ?? []).some((m: any) => /errors \/ invocations/.test(m.Expression ?? '')),
    );
    if (!errorRate) problems.push(`${name}: no error-rate (>5% over 5 min) alarm`);
    if (!alarms.some((a) => refersTo(a, id) && a.Properties.MetricName === 'Throttles')) problems.push(`${name}: no throttles alarm`);
  }
  for (const [id, q] of Object.entries<any>(queues)) {
    const name = String(q.Properties.QueueName);
    // DLQs and failure queues (the ingest function's on-failure destination) hold only failures.
    if (!/dlq|-failed$/.test(name)) continue;
    const ok = alarms.some(
      (a) =>
        a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        JSON.stringify(a.Properties.Dimensions).includes(`"${id}"`) &&
        a.Properties.Threshold === 0 &&
        a.Properties.ComparisonOperator === 'GreaterThanThreshold',
    );
    if (!ok) problems.push(`${name}: no "DLQ not empty" alarm`);
  }
  const ingestQueue = Object.keys(queues).find((id) => queues[id].Properties.QueueName === `dd0c-staging-${routing.ingest_rule.queue}.fifo`)!;
  if (
    !alarms.some(
      (a) =>
        a.Properties.MetricName === 'ApproximateAgeOfOldestMessage' &&
        JSON.stringify(a.Properties.Dimensions).includes(`"${ingestQueue}"`) &&
        a.Properties.Threshold === 300,
    )
  ) {
    problems.push('ingest queue: no oldest-message-age > 300 s alarm');
  }
  if (!alarms.some((a) => (a.Properties.Metrics ?? []).some((m: any) => m.MetricStat?.Metric?.MetricName === '5xx') && a.Properties.Threshold === 5)) {
    problems.push('API: no 5xx-rate alarm');
  }
  return problems;
}

describe('alarms and dashboard', () => {
  const { json, template } = synth();

  test('alarms exist for every function, every DLQ, every queue\'s age and the inbox stream\'s, API 5xx; all notify ops-alerts', () => {
    expect(alarmProblems(json)).toEqual([]);
    // 9 functions x 2 + (a FIFO DLQ per queue + the inbox's DLQ + the delivery DLQ) + an age per queue + the inbox's iterator age + API
    const queues = routing.queues.length;
    expect(Object.keys(resources(json, 'AWS::CloudWatch::Alarm'))).toHaveLength(FUNCTION_NAMES.length * 2 + (queues + 2) + queues + 1 + 1);
    const inboxAge = Object.values<any>(resources(json, 'AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === 'GetRecords.IteratorAgeMilliseconds');
    expect(inboxAge.map((a) => [a.Properties.Namespace, a.Properties.Threshold])).toEqual([['AWS/Kinesis', 300_000]]);
  });

  test('the alarm check fails when an alarm is missing or silent', () => {
    const broken = clone(json);
    const alarms = resources(broken, 'AWS::CloudWatch::Alarm');
    const dlqAlarm = Object.keys(alarms).find((id) => /ScoreDlqNotEmpty/.test(id))!;
    delete broken.Resources[dlqAlarm];
    const errorAlarm = Object.keys(alarms).find((id) => /NotifierErrorRate/.test(id))!;
    broken.Resources[errorAlarm].Properties.AlarmActions = [];
    const problems = alarmProblems(broken);
    expect(problems).toEqual(
      expect.arrayContaining(['dd0c-staging-score-dlq.fifo: no "DLQ not empty" alarm', 'dd0c-staging-notifier-error-rate: does not notify ops-alerts']),
    );
  });

  test('ops-alerts is encrypted and accepts TLS only', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      TopicName: 'dd0c-staging-ops-alerts',
      KmsMasterKeyId: Match.objectLike({ 'Fn::GetAtt': Match.anyValue() }),
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  test('the dashboard shows the DLQ depths (its EMF metrics: metrics-parity.test.ts)', () => {
    const [dash] = Object.values<any>(resources(json, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dash.Properties.DashboardBody);
    expect(body).toContain('{dd0c,stage}');
    expect(body).toContain('ApproximateNumberOfMessagesVisible');
  });
});
