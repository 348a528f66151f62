import { HttpRouteTable } from '../lib/http-routes';
import { ROUTE_THROTTLE, WAF_RATE_LIMITS, publicPathPrefixes, publicRouteThrottles } from '../lib/rate-limits';
import { clone, readHttpRoutesJson, resources, synth } from './helpers';

// docs/decisions/0820-rate-limits.md. The expectations are derived here from shared/http-routes.json
// read on its own, with the public auth kinds written down once more: the routes no tenant signs
// in for (Slack, Stripe, drift reports with an agent API key, the Slack OAuth redirect, the API
// description).
const PUBLIC_KINDS = ['api_key', 'slack_signature', 'stripe_signature', 'slack_oauth', 'public'];
const file = readHttpRoutesJson();
const publicEntries = file.routes.filter((r) => PUBLIC_KINDS.includes(r.auth));
const tenantEntries = file.routes.filter((r) => !PUBLIC_KINDS.includes(r.auth));
const key = (r: { method: string; path: string }): string => `${r.method} ${r.path}`;

const stageOf = (json: any): any => {
  const stages = Object.values<any>(resources(json, 'AWS::ApiGatewayV2::Stage'));
  expect(stages).toHaveLength(1);
  return stages[0];
};

describe('per-route throttles on the HTTP API stage (public routes of shared/http-routes.json)', () => {
  const { json } = synth();
  const stage = stageOf(json);
  const settings: Record<string, any> = stage.Properties.RouteSettings;
  const stageDefault = stage.Properties.DefaultRouteSettings;

  test('every auth kind of the table is classified public or tenant', () => {
    expect(Object.keys(ROUTE_THROTTLE).sort()).toEqual([...file.auth_kinds].sort());
    for (const kind of file.auth_kinds) expect([kind, ROUTE_THROTTLE[kind as keyof typeof ROUTE_THROTTLE] !== null]).toEqual([kind, PUBLIC_KINDS.includes(kind)]);
  });

  test('RouteSettings names exactly the public routes: Slack, Stripe, drift reports, OpenAPI...', () => {
    expect(Object.keys(settings).sort()).toEqual(publicEntries.map(key).sort());
    for (const k of ['POST /v1/slack/commands', 'POST /v1/slack/actions', 'POST /v1/stripe/webhook', 'POST /v1/drift-reports', 'GET /v1/openapi.json']) {
      expect(settings).toHaveProperty([k]);
    }
    for (const r of tenantEntries) expect(settings).not.toHaveProperty([key(r)]);
  });

  test('each public route has its own throttle, by auth kind, never above the stage default', () => {
    expect(stageDefault).toEqual(expect.objectContaining({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 }));
    for (const r of publicEntries) {
      const s = settings[key(r)];
      const want = ROUTE_THROTTLE[r.auth as keyof typeof ROUTE_THROTTLE]!;
      // CloudFormation's keys (RouteSettings is JSON, passed through as written).
      expect(Object.keys(s).sort()).toEqual(['DetailedMetricsEnabled', 'ThrottlingBurstLimit', 'ThrottlingRateLimit']);
      expect([key(r), s.ThrottlingRateLimit, s.ThrottlingBurstLimit]).toEqual([
        key(r),
        Math.min(want.rateLimit, stageDefault.ThrottlingRateLimit),
        Math.min(want.burstLimit, stageDefault.ThrottlingBurstLimit),
      ]);
      expect(s.ThrottlingRateLimit).toBeGreaterThan(0);
      expect(s.ThrottlingBurstLimit).toBeGreaterThanOrEqual(s.ThrottlingRateLimit);
    }
    // Stripe retries; a flood of one kind must not be allowed the whole stage.
    expect(settings['POST /v1/stripe/webhook'].ThrottlingRateLimit).toBeLessThan(stageDefault.ThrottlingRateLimit);
  });

  test('each setting names a route of the API, and the stage is created after those routes', () => {
    const routes = resources(json, 'AWS::ApiGatewayV2::Route');
    const idByKey = Object.fromEntries(Object.entries<any>(routes).map(([id, r]) => [r.Properties.RouteKey, id]));
    for (const k of Object.keys(settings)) {
      expect(idByKey).toHaveProperty([k]);
      expect(stage.DependsOn).toContain(idByKey[k]);
    }
  });

  test('prod: the same routes, capped by the prod stage default', () => {
    const prod = stageOf(synth({ env: 'prod' }).json);
    expect(Object.keys(prod.Properties.RouteSettings).sort()).toEqual(publicEntries.map(key).sort());
    for (const s of Object.values<any>(prod.Properties.RouteSettings)) {
      expect(s.ThrottlingRateLimit).toBeLessThanOrEqual(prod.Properties.DefaultRouteSettings.ThrottlingRateLimit);
      expect(s.ThrottlingBurstLimit).toBeLessThanOrEqual(prod.Properties.DefaultRouteSettings.ThrottlingBurstLimit);
    }
  });

  test('a public route added to the table gets a throttle; a stage default below the figures caps them', () => {
    const table = clone(file) as unknown as HttpRouteTable;
    (table.routes as any[]).push({ method: 'POST', path: '/v1/slack/events', function: 'slack', auth: 'slack_signature' });
    (table.routes as any[]).push({ method: 'GET', path: '/v1/reports', function: 'api', auth: 'cognito' });
    const t = publicRouteThrottles(table, { rateLimit: 3, burstLimit: 4 });
    expect(t).toHaveProperty(['POST /v1/slack/events']);
    expect(t).not.toHaveProperty(['GET /v1/reports']);
    for (const v of Object.values(t)) {
      expect(v.rateLimit).toBeLessThanOrEqual(3);
      expect(v.burstLimit).toBeLessThanOrEqual(4);
    }
  });
});

describe('WAF (regional web ACL on the Cognito user pool; CloudFront web ACL in us-east-1)', () => {
  const acls = (json: any, scope: string): [string, any][] =>
    Object.entries<any>(resources(json, 'AWS::WAFv2::WebACL')).filter(([, a]) => a.Properties.Scope === scope);
  const rule = (acl: any, name: string): any => {
    const r = acl.Properties.Rules.find((x: any) => x.Name === name);
    expect(r).toBeDefined();
    return r;
  };
  const { json } = synth();
  // Read at describe time without destructuring, so a missing ACL fails each test, not the suite.
  const [regionalId, regional] = acls(json, 'REGIONAL')[0] ?? [undefined, { Properties: { Rules: [] } }];

  test('one regional web ACL: allow by default, unique rule names and priorities, metrics on', () => {
    expect(acls(json, 'REGIONAL')).toHaveLength(1);
    expect(regional.Properties.DefaultAction).toEqual({ Allow: {} });
    const rules = regional.Properties.Rules;
    expect(rules.map((r: any) => r.Name)).toEqual(['PerIpRateLimit', 'PublicRoutesPerIpRateLimit', 'AWSManagedRulesCommonRuleSet']);
    expect(new Set(rules.map((r: any) => r.Priority)).size).toBe(rules.length);
    for (const r of [regional.Properties, ...rules]) {
      expect(r.VisibilityConfig).toEqual(expect.objectContaining({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true }));
    }
  });

  test('a per-IP rate-based rule on every request blocks', () => {
    const r = rule(regional, 'PerIpRateLimit');
    expect(r.Action).toEqual({ Block: {} });
    expect(r.Statement.RateBasedStatement).toEqual({ AggregateKeyType: 'IP', Limit: WAF_RATE_LIMITS.perIp, EvaluationWindowSec: 300 });
  });

  test("a tighter per-IP rule covers exactly the public routes' paths, and no tenant route", () => {
    const r = rule(regional, 'PublicRoutesPerIpRateLimit');
    expect(r.Action).toEqual({ Block: {} });
    const rb = r.Statement.RateBasedStatement;
    expect(rb.AggregateKeyType).toBe('IP');
    expect(rb.Limit).toBeLessThan(rule(regional, 'PerIpRateLimit').Statement.RateBasedStatement.Limit);
    expect(rb.Limit).toBeGreaterThanOrEqual(10); // WAF's lowest rate limit
    const matches = rb.ScopeDownStatement.OrStatement.Statements.map((s: any) => s.ByteMatchStatement);
    for (const m of matches) {
      expect(m.FieldToMatch).toEqual({ UriPath: {} });
      expect(m.PositionalConstraint).toBe('STARTS_WITH');
    }
    const prefixes: string[] = matches.map((m: any) => m.SearchString);
    const literal = (p: string): string => (p.includes('{') ? p.slice(0, p.indexOf('{')) : p);
    expect([...prefixes].sort()).toEqual([...new Set(publicEntries.map((e) => literal(e.path)))].sort());
    expect(prefixes).toEqual(publicPathPrefixes(file as unknown as HttpRouteTable));
    for (const e of publicEntries) expect(prefixes.some((p) => e.path.startsWith(p))).toBe(true);
    for (const e of tenantEntries) expect([e.path, prefixes.filter((p) => e.path.startsWith(p))]).toEqual([e.path, []]);
  });

  test('the AWS managed common rule set, with the 8 KB body rule counting only', () => {
    const r = rule(regional, 'AWSManagedRulesCommonRuleSet');
    expect(r.OverrideAction).toEqual({ None: {} });
    expect(r.Action).toBeUndefined();
    expect(r.Statement.ManagedRuleGroupStatement).toEqual({
      VendorName: 'AWS',
      Name: 'AWSManagedRulesCommonRuleSet',
      RuleActionOverrides: [{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }],
    });
  });

  test('the regional web ACL is associated with the user pool, and with nothing else', () => {
    const assocs = Object.values<any>(resources(json, 'AWS::WAFv2::WebACLAssociation'));
    const [poolId] = Object.keys(resources(json, 'AWS::Cognito::UserPool'));
    expect(assocs.map((a) => a.Properties)).toEqual([
      { ResourceArn: { 'Fn::GetAtt': [poolId, 'Arn'] }, WebACLArn: { 'Fn::GetAtt': [regionalId, 'Arn'] } },
    ]);
  });

  const distribution = (j: any): any => Object.values<any>(resources(j, 'AWS::CloudFront::Distribution'))[0].Properties.DistributionConfig;

  test('region-agnostic synth: the CloudFront web ACL exists only if the stack deploys to us-east-1', () => {
    const cf = acls(json, 'CLOUDFRONT');
    expect(cf).toHaveLength(1);
    const [cfId, acl] = cf[0];
    expect(acl.Condition).toBe('IsUsEast1');
    expect(json.Conditions.IsUsEast1).toEqual({ 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] });
    expect(acl.Properties.Rules.map((r: any) => r.Name)).toEqual(['PerIpRateLimit', 'AWSManagedRulesCommonRuleSet']);
    expect(distribution(json).WebACLId).toEqual({ 'Fn::If': ['IsUsEast1', { 'Fn::GetAtt': [cfId, 'Arn'] }, { Ref: 'AWS::NoValue' }] });
  });

  test('us-east-1: the CloudFront web ACL is always created and attached', () => {
    const j = synth({ context: { account: '111111111111', region: 'us-east-1' } }).json;
    expect(acls(j, 'CLOUDFRONT')).toHaveLength(1);
    const [[cfId, acl]] = acls(j, 'CLOUDFRONT');
    expect(acl.Condition).toBeUndefined();
    expect(distribution(j).WebACLId).toEqual({ 'Fn::GetAtt': [cfId, 'Arn'] });
    expect(acls(j, 'REGIONAL')).toHaveLength(1);
  });

  test('another region: no CloudFront web ACL (the stack cannot create one there); the regional one stays', () => {
    const j = synth({ context: { account: '222222222222', region: 'eu-west-1' } }).json;
    expect(acls(j, 'CLOUDFRONT')).toHaveLength(0);
    expect(distribution(j).WebACLId).toBeUndefined();
    expect(acls(j, 'REGIONAL')).toHaveLength(1);
    expect(Object.keys(resources(j, 'AWS::WAFv2::WebACLAssociation'))).toHaveLength(1);
  });
});
