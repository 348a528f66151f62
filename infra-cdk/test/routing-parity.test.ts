import { RoutingTable } from '../lib/routing';
import { extractRouting, routingParityProblems } from './checks';
import { clone, readRoutingJson, resources, synth } from './helpers';

// shared/routing.json is read here on its own (not through lib/routing.ts), so the test compares
// the file the Rust router uses with what the synthesized template actually does.
const routing = readRoutingJson();

describe('routing parity: shared/routing.json vs the synthesized template', () => {
  const { json } = synth();

  test('every detail-type reaches the same queue and message group, and no other', () => {
    expect(routingParityProblems(routing, json)).toEqual([]);
    const found = extractRouting(json);
    for (const r of routing.routes) {
      const hits = found.routes.get(r.detail_type)!;
      expect(hits).toHaveLength(1);
      expect(hits[0].queue).toBe(`dd0c-staging-${r.queue}.fifo`);
      expect(hits[0].source).toEqual([routing.internal_source]);
    }
  });

  test('the bus has the name of the routing table (the customer template forwards to it)', () => {
    const buses = Object.values<any>(resources(json, 'AWS::Events::EventBus'));
    expect(buses.map((b) => b.Properties.Name)).toEqual([routing.bus_name]);
  });

  test('each queue deduplicates as the routing table says', () => {
    const queues = Object.values<any>(resources(json, 'AWS::SQS::Queue'));
    for (const q of routing.queues) {
      const found = queues.find((x) => x.Properties.QueueName === `dd0c-staging-${q.name}.fifo`);
      expect({ queue: q.name, contentBased: found.Properties.ContentBasedDeduplication }).toEqual({
        queue: q.name,
        contentBased: q.content_based_deduplication ?? routing.routes.some((r) => r.queue === q.name),
      });
    }
  });

  test('one rule per routes[] entry plus the ingest rule, all on the dd0c bus', () => {
    const rules = resources(json, 'AWS::Events::Rule');
    expect(Object.keys(rules)).toHaveLength(routing.routes.length + 1);
    const [busId] = Object.keys(resources(json, 'AWS::Events::EventBus'));
    for (const rule of Object.values<any>(rules)) {
      expect(rule.Properties.EventBusName).toEqual({ Ref: busId });
    }
  });

  test('the ingest rule sends CloudTrail events to the ingest function', () => {
    const hits = extractRouting(json).functionRules.get(routing.ingest_rule.detail_type) ?? [];
    expect(hits.map((h) => h.function)).toEqual([`dd0c-staging-${routing.ingest_rule.function}`]);
  });

  test.each(routing.routes.map((r) => [r.detail_type]))(
    'fails when the rule for %s is removed from the app',
    (detailType) => {
      const dropped: RoutingTable = { ...clone(routing), routes: routing.routes.filter((r) => r.detail_type !== detailType) };
      const { json: broken } = synth({ routing: dropped });
      const problems = routingParityProblems(routing, broken);
      expect(problems).toEqual([`${detailType}: routed to ${routing.routes.find((r) => r.detail_type === detailType)!.queue} in shared/routing.json, to no queue in the template`]);
    },
  );

  test('fails when a rule targets another queue', () => {
    const broken = clone(json);
    const rules = resources(broken, 'AWS::Events::Rule');
    const queues = resources(broken, 'AWS::SQS::Queue');
    const alerts = Object.keys(queues).find((id) => queues[id].Properties.QueueName === 'dd0c-staging-alerts.fifo')!;
    const costRule = Object.values<any>(rules).find((r) => r.Properties.EventPattern['detail-type']?.[0] === 'dd0c.CostEvent');
    costRule.Properties.Targets[0].Arn = { 'Fn::GetAtt': [alerts, 'Arn'] };
    expect(routingParityProblems(routing, broken).join('\n')).toMatch(/dd0c.CostEvent: routed to score .* also to dd0c-staging-alerts.fifo/);
  });

  test('fails when the template routes a detail-type the table does not know', () => {
    const broken = clone(json);
    const rule = Object.values<any>(resources(broken, 'AWS::Events::Rule')).find(
      (r) => r.Properties.EventPattern['detail-type']?.[0] === 'dd0c.Finding',
    );
    rule.Properties.EventPattern['detail-type'] = ['dd0c.Finding', 'dd0c.Unknown'];
    expect(routingParityProblems(routing, broken)).toEqual([expect.stringContaining('dd0c.Unknown: routed to dd0c-staging-alerts.fifo')]);
  });

  test('fails when a message group or a consumer differs', () => {
    const broken = clone(json);
    const rule = Object.values<any>(resources(broken, 'AWS::Events::Rule')).find(
      (r) => r.Properties.EventPattern['detail-type']?.[0] === 'dd0c.DriftEvent',
    );
    rule.Properties.Targets[0].SqsParameters.MessageGroupId = 'change-events';
    const esm = Object.values<any>(resources(broken, 'AWS::Lambda::EventSourceMapping'))[0];
    esm.Properties.BatchSize = 1;
    const problems = routingParityProblems(routing, broken);
    expect(problems).toContain('dd0c.DriftEvent: message group "change-events" in the template, "drift-events" in shared/routing.json');
    expect(problems.some((p) => /batch size 1, want 10/.test(p))).toBe(true);
  });

  test('fails when the routing file gains a route the app does not deploy', () => {
    const extended: RoutingTable = {
      ...clone(routing),
      routes: [...routing.routes, { detail_type: 'dd0c.NewEvent', queue: 'alerts', message_group: 'new' }],
    };
    expect(routingParityProblems(extended, json)).toEqual([
      'dd0c.NewEvent: routed to alerts in shared/routing.json, to no queue in the template',
    ]);
  });
});
