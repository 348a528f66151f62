import { readRoutingJson, resources, synth } from './helpers';

// The ingest rule puts CloudTrail events on a Kinesis stream, the inbox, partitioned by account,
// which the ingest function drains in batches (docs/decisions/1060-ingest-inbox.md). Nothing may
// be dropped on the way: EventBridge sends what it cannot put to the delivery DLQ; the function
// dead-letters what it cannot read to the inbox's DLQ with the reason; Lambda hands the
// description of a batch it gave up on to the same DLQ, and the stream keeps it for a day.
const routing = readRoutingJson();
const inbox = routing.ingest_rule.inbox;

describe('no ingest event is dropped silently', () => {
  const { json } = synth();
  const queues = resources(json, 'AWS::SQS::Queue');
  const streams = resources(json, 'AWS::Kinesis::Stream');
  const functions = resources(json, 'AWS::Lambda::Function');
  const byName = (name: string) => Object.keys(queues).find((id) => queues[id].Properties.QueueName === name);
  const streamId = Object.keys(streams).find((id) => streams[id].Properties.Name === `dd0c-staging-${inbox.name}`);
  const inboxDlqId = byName(`dd0c-staging-${inbox.name}-dlq`);
  const deliveryDlqId = byName('dd0c-staging-delivery-dlq')!;
  const ingestId = Object.keys(functions).find((id) => functions[id].Properties.FunctionName === `dd0c-staging-${routing.ingest_rule.function}`)!;

  test('the inbox is an encrypted stream of the configured shards; its DLQ a standard queue, SSE, TLS only', () => {
    expect(streamId).toBeDefined();
    const s = streams[streamId!].Properties;
    expect([s.ShardCount, s.StreamModeDetails?.StreamMode, s.RetentionPeriodHours]).toEqual([inbox.shards, 'PROVISIONED', 24]);
    expect(s.StreamEncryption).toEqual({ EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' });
    expect(inboxDlqId).toBeDefined();
    const dlq = queues[inboxDlqId!].Properties;
    expect([dlq.FifoQueue ?? false, dlq.SqsManagedSseEnabled, dlq.MessageRetentionPeriod]).toEqual([false, true, 14 * 24 * 3600]);
    const denies = Object.values<any>(resources(json, 'AWS::SQS::QueuePolicy'))
      .filter((p) => JSON.stringify(p.Properties.Queues).includes(`"${inboxDlqId}"`))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => st.Effect === 'Deny' && st.Condition?.Bool?.['aws:SecureTransport'] === 'false');
    expect(denies).toHaveLength(1);
  });

  test('the ingest rule puts events on the stream by account, with the delivery DLQ', () => {
    const rules = Object.values<any>(resources(json, 'AWS::Events::Rule')).filter((r) =>
      JSON.stringify(r.Properties.EventPattern).includes(routing.ingest_rule.detail_type),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties.Targets).toHaveLength(1);
    const target = rules[0].Properties.Targets[0];
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [streamId, 'Arn'] });
    expect(target.KinesisParameters).toEqual({ PartitionKeyPath: '$.account' });
    expect(target.DeadLetterConfig.Arn).toEqual({ 'Fn::GetAtt': [deliveryDlqId, 'Arn'] });
    // EventBridge puts with a role that may put on this stream and nothing else.
    const roleId = target.RoleArn['Fn::GetAtt'][0];
    const statements = Object.values<any>(resources(json, 'AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements.flatMap((st: any) => [st.Action].flat()).sort()).toEqual(['kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords']);
    expect(statements.every((st: any) => JSON.stringify(st.Resource) === JSON.stringify({ 'Fn::GetAtt': [streamId, 'Arn'] }))).toBe(true);
  });

  test('the ingest function drains it one batch per shard, retrying from a failed record, then hands the batch to the DLQ', () => {
    const mappings = Object.values<any>(resources(json, 'AWS::Lambda::EventSourceMapping')).filter((m) =>
      JSON.stringify(m.Properties.EventSourceArn).includes(`"${streamId}"`),
    );
    expect(mappings).toHaveLength(1);
    const p = mappings[0].Properties;
    expect(p.FunctionName).toEqual({ Ref: ingestId });
    expect({
      batch: p.BatchSize,
      window: p.MaximumBatchingWindowInSeconds,
      responses: p.FunctionResponseTypes,
      parallel: p.ParallelizationFactor,
      bisect: p.BisectBatchOnFunctionError,
      retries: p.MaximumRetryAttempts,
      start: p.StartingPosition,
      onFailure: p.DestinationConfig.OnFailure.Destination,
    }).toEqual({
      batch: inbox.batch_size,
      window: inbox.batching_window_seconds,
      responses: ['ReportBatchItemFailures'],
      parallel: 1,
      bisect: true,
      retries: inbox.retry_attempts,
      start: 'TRIM_HORIZON',
      onFailure: { 'Fn::GetAtt': [inboxDlqId, 'Arn'] },
    });
    // ... and dead-letters there itself, with the reason.
    const env = functions[ingestId].Properties.Environment.Variables;
    expect(env[`DLQ_URL_${inbox.name.toUpperCase()}`]).toEqual({ Ref: inboxDlqId });
    const senders = Object.values<any>(resources(json, 'AWS::IAM::Policy')).filter((pol) =>
      pol.Properties.PolicyDocument.Statement.some(
        (s: any) => [s.Action].flat().includes('sqs:SendMessage') && JSON.stringify(s.Resource).includes(`"${inboxDlqId}"`),
      ),
    );
    expect(senders.flatMap((g) => g.Properties.Roles.map((r: any) => r.Ref))).toEqual([functions[ingestId].Properties.Role['Fn::GetAtt'][0]]);
    // Nothing invokes it asynchronously any more.
    expect(Object.keys(resources(json, 'AWS::Lambda::EventInvokeConfig'))).toEqual([]);
  });

  test('a message in the inbox DLQ pages ops-alerts exactly like any DLQ does', () => {
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
    const onQueue = (id: string) =>
      alarms.filter((a) => JSON.stringify(a.Properties.Dimensions ?? []).includes(`"${id}"`) && a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible');
    const inboxDlqAlarms = onQueue(inboxDlqId!);
    expect(inboxDlqAlarms).toHaveLength(1);
    expect(shape(inboxDlqAlarms[0])).toEqual(shape(onQueue(deliveryDlqId)[0]));
    expect(inboxDlqAlarms[0].Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    const [dash] = Object.values<any>(resources(json, 'AWS::CloudWatch::Dashboard'));
    expect(JSON.stringify(dash.Properties.DashboardBody)).toContain(`"${inboxDlqId}"`);
  });
});
