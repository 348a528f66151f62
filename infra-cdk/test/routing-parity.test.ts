import { RoutingTable } from '../lib/routing';
import { extractRouting, routingParityProblems } from './checks';
import { clone, readRoutingJson, resources, synth } from './helpers';

// shared/routing.json is read here on its own (not through lib/routing.ts), so the test compares
// the file the Rust router uses with what the synthesized template actually does.
const routing = readRoutingJson();

const policies = (json: any) => Object.values<any>(resources(json, 'AWS::IAM::Policy'));
const functionId = (json: any, name: string) =>
  Object.entries<any>(resources(json, 'AWS::Lambda::Function')).find(([, f]) => f.Properties.FunctionName === `dd0c-staging-${name}`)![0];
const roleOf = (json: any, name: string) => resources(json, 'AWS::Lambda::Function')[functionId(json, name)].Properties.Role['Fn::GetAtt'][0];
const queueId = (json: any, name: string) =>
  Object.entries<any>(resources(json, 'AWS::SQS::Queue')).find(([, q]) => q.Properties.QueueName === `dd0c-staging-${name}.fifo`)![0];

describe('routing parity: shared/routing.json vs the synthesized template', () => {
  const { json } = synth();

  test('every producer may send to the queue of each detail-type it publishes, with its URL, and nobody else may', () => {
    expect(routingParityProblems(routing, json)).toEqual([]);
    const found = extractRouting(json);
    for (const r of routing.routes) {
      const senders = found.senders.get(`dd0c-staging-${r.queue}.fifo`) ?? [];
      for (const p of r.producers) {
        expect(senders).toContainEqual({ function: `dd0c-staging-${p}`, hasUrl: true });
      }
    }
    expect(found.senders.get('dd0c-staging-alerts.fifo')!.map((s) => s.function).sort()).toEqual([
      'dd0c-staging-classifier',
      'dd0c-staging-scorer',
    ]);
  });

  test('the bus has the name of the routing table (the customer template forwards to it) and only the ingest rule', () => {
    const buses = Object.values<any>(resources(json, 'AWS::Events::EventBus'));
    expect(buses.map((b) => b.Properties.Name)).toEqual([routing.bus_name]);
    const rules = Object.values<any>(resources(json, 'AWS::Events::Rule'));
    expect(rules.map((r) => r.Properties.EventPattern['detail-type'])).toEqual([[routing.ingest_rule.detail_type]]);
  });

  test('every queue deduplicates by the ids its senders give', () => {
    const queues = Object.values<any>(resources(json, 'AWS::SQS::Queue'));
    for (const q of routing.queues) {
      const found = queues.find((x) => x.Properties.QueueName === `dd0c-staging-${q.name}.fifo`);
      expect({ queue: q.name, contentBased: found.Properties.ContentBasedDeduplication }).toEqual({ queue: q.name, contentBased: false });
    }
  });

  test('the ingest rule puts CloudTrail events on the inbox stream, which the ingest function drains', () => {
    const found = extractRouting(json);
    expect(found.functionRules.get(routing.ingest_rule.detail_type) ?? []).toEqual([]);
    expect(found.routes.get(routing.ingest_rule.detail_type) ?? []).toEqual([]);
    const streams = resources(json, 'AWS::Kinesis::Stream');
    expect(Object.values<any>(streams).map((s) => s.Properties.Name)).toEqual([`dd0c-staging-${routing.ingest_rule.inbox.name}`]);
    expect(routingParityProblems(routing, json)).toEqual([]);
  });

  test('fails when the ingest rule invokes the function once per event', () => {
    const broken = clone(json);
    const [ruleId] = Object.entries<any>(resources(broken, 'AWS::Events::Rule')).find(([, r]) =>
      JSON.stringify(r.Properties.EventPattern).includes(routing.ingest_rule.detail_type),
    )!;
    const fnId = Object.keys(resources(broken, 'AWS::Lambda::Function')).find(
      (id) => broken.Resources[id].Properties.FunctionName === `dd0c-staging-${routing.ingest_rule.function}`,
    )!;
    broken.Resources[ruleId].Properties.Targets = [{ Id: 'fn', Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } }];
    expect(routingParityProblems(routing, broken)).toEqual([
      `${routing.ingest_rule.detail_type}: no rule puts it on the ${routing.ingest_rule.inbox.name} stream, partitioned by account`,
      `${routing.ingest_rule.detail_type}: a rule (${ruleId}) invokes dd0c-staging-${routing.ingest_rule.function} once per event; it goes to the ${routing.ingest_rule.inbox.name} stream`,
    ]);
  });

  test('fails when the stream is not partitioned by account (one shard order for everyone, or none)', () => {
    const broken = clone(json);
    const rule = Object.values<any>(resources(broken, 'AWS::Events::Rule')).find((r) =>
      JSON.stringify(r.Properties.EventPattern).includes(routing.ingest_rule.detail_type),
    )!;
    delete rule.Properties.Targets[0].KinesisParameters;
    expect(routingParityProblems(routing, broken)).toEqual([
      `${routing.ingest_rule.detail_type}: no rule puts it on the ${routing.ingest_rule.inbox.name} stream, partitioned by account`,
    ]);
  });

  test.each(routing.routes.flatMap((r) => r.producers.map((p) => [r.detail_type, p, r.queue])))(
    'fails when %s\'s producer %s may not send to its queue',
    (detailType, producer, queue) => {
      const broken = clone(json);
      const role = roleOf(broken, producer);
      const qId = queueId(broken, queue);
      for (const policy of policies(broken)) {
        if (!policy.Properties.Roles.some((r: any) => r.Ref === role)) continue;
        for (const st of policy.Properties.PolicyDocument.Statement) {
          const res = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
          st.Resource = res.filter((x: any) => x?.['Fn::GetAtt']?.[0] !== qId);
          if (st.Resource.length === 0) st.Resource = '*', st.Action = 'xray:PutTraceSegments';
        }
      }
      expect(routingParityProblems(routing, broken)).toContain(
        `${detailType}: ${producer} sends it to ${queue} in shared/routing.json, but may not send to ${queue}.fifo in the template`,
      );
    },
  );

  test('fails when a producer has no URL of its queue', () => {
    const broken = clone(json);
    const fn = resources(broken, 'AWS::Lambda::Function')[functionId(broken, 'scorer')];
    delete fn.Properties.Environment.Variables.QUEUE_URL_ALERTS;
    expect(routingParityProblems(routing, broken)).toEqual([
      'dd0c.Finding: scorer may send to alerts.fifo but has no URL of it in its environment',
    ]);
  });

  test('fails when a function that produces nothing for a queue may send to it', () => {
    const broken = clone(json);
    const role = roleOf(broken, 'api');
    const qId = queueId(broken, 'alerts');
    broken.Resources.ExtraSend = {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'extra',
        Roles: [{ Ref: role }],
        PolicyDocument: { Statement: [{ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: { 'Fn::GetAtt': [qId, 'Arn'] } }] },
      },
    };
    expect(routingParityProblems(routing, broken)).toEqual([
      'alerts.fifo: dd0c-staging-api may send to it, but shared/routing.json routes nothing from it there',
    ]);
  });

  test('fails when a rule delivers an internal event to a queue (one static group for every tenant)', () => {
    const broken = clone(json);
    broken.Resources.OldRule = {
      Type: 'AWS::Events::Rule',
      Properties: {
        EventPattern: { source: [routing.internal_source], 'detail-type': ['dd0c.Finding'] },
        Targets: [{ Id: 'q', Arn: { 'Fn::GetAtt': [queueId(broken, 'alerts'), 'Arn'] }, SqsParameters: { MessageGroupId: 'findings' } }],
      },
    };
    expect(routingParityProblems(routing, broken)).toEqual([
      'dd0c.Finding: a rule (OldRule) delivers it to dd0c-staging-alerts.fifo: internal events are sent by their producers',
    ]);
  });

  test('fails when a consumer differs', () => {
    const broken = clone(json);
    const esm = Object.values<any>(resources(broken, 'AWS::Lambda::EventSourceMapping')).find(
      (m) => m.Properties.BatchSize === 10,
    );
    esm.Properties.BatchSize = 1;
    const problems = routingParityProblems(routing, broken);
    expect(problems.some((p) => /batch size 1, want 10/.test(p))).toBe(true);
  });

  test('fails when the routing file gains a producer the app does not grant', () => {
    const extended: RoutingTable = {
      ...clone(routing),
      routes: [...routing.routes, { detail_type: 'dd0c.NewEvent', queue: 'alerts', ordered_by: 'tenant', producers: ['digest'] }],
    };
    expect(routingParityProblems(extended, json)).toEqual([
      'dd0c.NewEvent: digest sends it to alerts in shared/routing.json, but may not send to alerts.fifo in the template',
    ]);
  });
});
