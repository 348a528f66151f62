import { Validations } from 'aws-cdk-lib';
import { Annotations } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { buildApp, cdkJsonContext } from '../lib/app';
import * as path from 'path';
import { FIXTURES, synth, tempOutdir } from './helpers';

function violations(scope: IConstruct) {
  return new AwsSolutionsChecks().validateScope(scope).violations.map((v) => ({
    rule: v.ruleName,
    severity: v.severity,
    resources: v.violatingResources.map((r) => r.constructPath),
  }));
}

function acknowledgements(scope: IConstruct): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  const walk = (c: IConstruct) => {
    for (const m of c.node.metadata) {
      if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
        for (const [id, reason] of Object.entries(m.data as Record<string, string>)) out.push({ path: c.node.path, id, reason });
      }
    }
    c.node.children.forEach(walk);
  };
  walk(scope);
  return out;
}

describe('cdk-nag AwsSolutions', () => {
  test.each([
    ['staging', {}],
    ['prod', { customerAccountIds: '111111111111', customerOrganizationId: 'o-abcdefghij', alarmEmail: 'ops@example.com' }],
  ])('%s: no unacknowledged finding (errors or warnings)', (env, context) => {
    const { app } = synth({ env: env as 'staging' | 'prod', context });
    expect(violations(app)).toEqual([]);
  });

  // `cdk deploy` always knows the account and region: the asset bucket and the partition are then
  // literals in the findings (arn:aws:s3:::cdk-<q>-assets-111111111111-us-east-1/*), not tokens.
  test.each([
    ['account-agnostic', {}],
    ['a concrete account and region (what cdk deploy synthesizes)', { account: '111111111111', region: 'us-east-1' }],
    ['a concrete account in another region', { account: '222222222222', region: 'eu-west-1' }],
    ['a concrete account, the region left to the deploy', { account: '111111111111' }],
  ])('%s: no unacknowledged finding', (_name, context) => {
    const { app } = synth({ context });
    expect(violations(app)).toEqual([]);
  });

  test('a concrete synth with the plugin registered (cdk deploy) succeeds', () => {
    const { app, stack } = buildApp({
      context: { ...cdkJsonContext(), githubRepo: 'acme/dd0c', account: '111111111111', region: 'us-east-1' },
      outdir: tempOutdir(),
      dashboardDir: path.join(FIXTURES, 'dashboard'),
      templateDir: path.join(FIXTURES, 'customer-template'),
    });
    expect(() => app.synth()).not.toThrow();
    Annotations.fromStack(stack).hasNoError('*', '*');
  });

  test('also without the optional dashboard / customer template, and with the real routing file', () => {
    const { app } = synth({ fixtures: false });
    expect(violations(app)).toEqual([]);
  });

  test('every acknowledgement carries a written reason', () => {
    const { stack } = synth();
    const acks = acknowledgements(stack);
    expect(acks.length).toBeGreaterThan(20);
    for (const a of acks) {
      expect({ id: a.id, reasonLongEnough: a.reason.trim().length >= 40 }).toEqual({ id: a.id, reasonLongEnough: true });
    }
  });

  test('the checks do fail: an app without the acknowledgements has errors', () => {
    const { app } = buildApp({
      context: { ...cdkJsonContext(), githubRepo: 'acme/dd0c' },
      nag: false,
      acknowledge: false,
      outdir: tempOutdir(),
      dashboardDir: path.join(FIXTURES, 'dashboard'),
      templateDir: path.join(FIXTURES, 'customer-template'),
    });
    const found = violations(app);
    expect(found.filter((v) => v.severity === 'error').length).toBeGreaterThan(5);
    expect(found.map((v) => v.rule)).toEqual(expect.arrayContaining(['AwsSolutions-APIG4', 'AwsSolutions-S2', 'AwsSolutions-SMG4']));
  });

  test('synth with the plugin registered (what `cdk synth` runs) succeeds', () => {
    const { app, stack } = buildApp({
      context: { ...cdkJsonContext(), githubRepo: 'acme/dd0c' },
      outdir: tempOutdir(),
      dashboardDir: path.join(FIXTURES, 'dashboard'),
      templateDir: path.join(FIXTURES, 'customer-template'),
    });
    expect(() => app.synth()).not.toThrow();
    Annotations.fromStack(stack).hasNoError('*', '*');
  });
});
