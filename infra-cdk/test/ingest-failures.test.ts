import { readRoutingJson, resources, synth } from './helpers';

// EventBridge invokes the ingest function asynchronously: once Lambda has taken the event, a
// function error is retried by Lambda and then dropped unless the function has an on-failure
// destination. The rule target's DLQ only catches events EventBridge could not hand to Lambda.
const routing = readRoutingJson();

describe('no ingest event is dropped silently', () => {
  const { json } = synth();
  const queues = resources(json, 'AWS::SQS::Queue');
  const functions = resources(json, 'AWS::Lambda::Function');
  const failedId = Object.keys(queues).find((id) => queues[id].Properties.QueueName === 'dd0c-staging-ingest-failed');
  const ingestId = Object.keys(functions).find((id) => functions[id].Properties.FunctionName === `dd0c-staging-${routing.ingest_rule.function}`)!;

  test('a standard queue <prefix>-ingest-failed: SSE, TLS only, 14 days', () => {
    expect(failedId).toBeDefined();
    const q = queues[failedId!].Properties;
    expect([q.FifoQueue ?? false, q.SqsManagedSseEnabled, q.MessageRetentionPeriod]).toEqual([false, true, 14 * 24 * 3600]);
    const policies = Object.values<any>(resources(json, 'AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(p.Properties.Queues).includes(`"${failedId}"`),
    );
    const denies = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter(
      (s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
    );
    expect(denies).toHaveLength(1);
  });

  test('the ingest function sends failed asynchronous invocations there after 2 retries', () => {
    const configs = Object.values<any>(resources(json, 'AWS::Lambda::EventInvokeConfig')).filter(
      (c) => c.Properties.FunctionName?.Ref === ingestId,
    );
    expect(configs).toHaveLength(1);
    const p = configs[0].Properties;
    expect(p.Qualifier).toBe('$LATEST');
    expect(p.MaximumRetryAttempts).toBe(2);
    expect(p.MaximumEventAgeInSeconds).toBeGreaterThanOrEqual(3600);
    expect(p.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [failedId, 'Arn'] });
    // ... and may send to it.
    const grants = Object.values<any>(resources(json, 'AWS::IAM::Policy')).filter((pol) =>
      pol.Properties.PolicyDocument.Statement.some(
        (s: any) => [s.Action].flat().includes('sqs:SendMessage') && JSON.stringify(s.Resource).includes(`"${failedId}"`),
      ),
    );
    expect(grants.map((g) => g.Properties.Roles.map((r: any) => r.Ref)).flat()).toEqual([functions[ingestId].Properties.Role['Fn::GetAtt'][0]]);
  });

  test('a message in it pages ops-alerts exactly like a DLQ does', () => {
    const alarms = Object.values<any>(resources(json, 'AWS::CloudWatch::Alarm'));
    const [topicId] = Object.keys(resources(json, 'AWS::SNS::Topic'));
    const shape = (a: any) => ({
      metric: a.Properties.MetricName,
      statistic: a.Properties.Statistic,
      period: a.Properties.Period,
      threshold: a.Properties.Threshold,
      comparison: a.Properties.ComparisonOperator,
      evaluationPeriods: a.Properties.EvaluationPeriods,
      missing: a.Properties.TreatMissingData,
      alarm: a.Properties.AlarmActions,
      ok: a.Properties.OKActions,
    });
    const onQueue = (id: string) => alarms.filter((a) => JSON.stringify(a.Properties.Dimensions ?? []).includes(`"${id}"`));
    const failedAlarms = onQueue(failedId!);
    expect(failedAlarms).toHaveLength(1);
    const dlqId = Object.keys(queues).find((id) => queues[id].Properties.QueueName === 'dd0c-staging-delivery-dlq')!;
    expect(shape(failedAlarms[0])).toEqual(shape(onQueue(dlqId)[0]));
    expect(failedAlarms[0].Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  test('the CloudWatch dashboard graphs its depth', () => {
    const [dash] = Object.values<any>(resources(json, 'AWS::CloudWatch::Dashboard'));
    expect(JSON.stringify(dash.Properties.DashboardBody)).toContain(`"${failedId}"`);
  });
});
