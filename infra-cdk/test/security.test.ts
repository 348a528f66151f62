import { Match } from 'aws-cdk-lib/assertions';
import { API_ROUTES } from '../lib/constructs/api';
import { busPolicyProblems, joinPartition } from './checks';
import { clone, resources, synth } from './helpers';

describe('event bus resource policy', () => {
  test('with no customer configured, nobody outside the account may put events', () => {
    const { json } = synth();
    expect(resources(json, 'AWS::Events::EventBusPolicy')).toEqual({});
    expect(busPolicyProblems(json)).toEqual([]);
  });

  test('an account allow-list grants PutEvents to exactly those accounts', () => {
    const { json } = synth({ context: { customerAccountIds: '111111111111,222222222222' } });
    expect(busPolicyProblems(json)).toEqual([]);
    const policies = Object.values<any>(resources(json, 'AWS::Events::EventBusPolicy'));
    expect(policies).toHaveLength(1);
    const s = policies[0].Properties.Statement;
    expect([s.Effect, s.Action, s.Condition]).toEqual([
      'Allow',
      'events:PutEvents',
      { StringEquals: { 'events:detail-type': 'AWS API Call via CloudTrail' } },
    ]);
    expect(s.Principal.AWS.map(joinPartition)).toEqual(['arn:aws:iam::111111111111:root', 'arn:aws:iam::222222222222:root']);
  });

  test('an organisation id grants PutEvents only under an aws:PrincipalOrgID condition', () => {
    const { json, template } = synth({ context: { customerOrganizationId: 'o-abcdefghij' } });
    expect(busPolicyProblems(json)).toEqual([]);
    template.hasResourceProperties('AWS::Events::EventBusPolicy', {
      Statement: Match.objectLike({
        Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij', 'events:detail-type': 'AWS API Call via CloudTrail' } },
      }),
    });
  });

  test('the check fails on a policy open to everyone', () => {
    const { json } = synth({ context: { customerOrganizationId: 'o-abcdefghij' } });
    const broken = clone(json);
    const policy = Object.values<any>(resources(broken, 'AWS::Events::EventBusPolicy'))[0];
    delete policy.Properties.Statement.Condition;
    expect(busPolicyProblems(broken)).toHaveLength(1);
  });

  test('bad allow-list entries fail synth', () => {
    expect(() => synth({ context: { customerAccountIds: '*' } })).toThrow(/12-digit/);
    expect(() => synth({ context: { customerOrganizationId: '*' } })).toThrow(/Organizations id/);
  });
});

describe('who can reach which rule', () => {
  const { json } = synth();
  const rules = Object.values<any>(resources(json, 'AWS::Events::Rule'));

  test('internal routes accept only events this account published (customers share the bus)', () => {
    const internal = rules.filter((r) => r.Properties.EventPattern.source?.[0] === 'dd0c.pipeline');
    expect(internal.length).toBeGreaterThan(0);
    for (const r of internal) expect(r.Properties.EventPattern.account).toEqual([{ Ref: 'AWS::AccountId' }]);
  });

  test('the ingest rule accepts only AWS-originated sources (aws.*), which PutEvents cannot forge', () => {
    const ingest = rules.filter((r) => r.Properties.EventPattern['detail-type']?.[0] === 'AWS API Call via CloudTrail');
    expect(ingest).toHaveLength(1);
    expect(ingest[0].Properties.EventPattern.source).toEqual([{ prefix: 'aws.' }]);
  });
});

describe('data', () => {
  test('one table: PK/SK, GSI1/GSI2, TTL, on-demand, PITR, encryption; deletion protection in prod only', () => {
    for (const env of ['staging', 'prod'] as const) {
      const { template } = synth({ env });
      template.resourceCountIs('AWS::DynamoDB::Table', 1);
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'PK', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        DeletionProtectionEnabled: env === 'prod',
        GlobalSecondaryIndexes: [
          Match.objectLike({ IndexName: 'GSI1', KeySchema: [{ AttributeName: 'GSI1PK', KeyType: 'HASH' }, { AttributeName: 'GSI1SK', KeyType: 'RANGE' }] }),
          Match.objectLike({ IndexName: 'GSI2', KeySchema: [{ AttributeName: 'GSI2PK', KeyType: 'HASH' }, { AttributeName: 'GSI2SK', KeyType: 'RANGE' }] }),
        ],
      });
      template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: env === 'prod' ? 'Retain' : 'Delete' });
    }
  });

  test('the Slack token key rotates', () => {
    synth().template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      Description: Match.stringLikeRegexp('Slack bot tokens'),
    });
  });
});

describe('no hard-coded account ids', () => {
  test('outside the region mapping of AWS-owned layers, the template names no account', () => {
    const { json } = synth();
    const { Mappings: _m, ...rest } = json;
    expect(JSON.stringify(rest).match(/\b\d{12}\b/g)).toBeNull();
  });
});

describe('GitHub deploy role', () => {
  const trust = (env: 'staging' | 'prod') => {
    const { json } = synth({ env });
    const role = Object.values<any>(resources(json, 'AWS::IAM::Role')).find((r) => /github-deploy/.test(r.Properties.RoleName ?? ''));
    return role.Properties.AssumeRolePolicyDocument.Statement;
  };

  test('staging trusts this repository main branch only, through the GitHub OIDC provider', () => {
    expect(trust('staging')).toEqual([
      {
        Action: 'sts:AssumeRoleWithWebIdentity',
        Effect: 'Allow',
        Principal: { Federated: { Ref: expect.stringMatching(/^GitHubDeployProvider/) } },
        Condition: {
          StringEquals: {
            'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
            'token.actions.githubusercontent.com:sub': 'repo:acme/dd0c:ref:refs/heads/main',
          },
        },
      },
    ]);
    synth().template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
  });

  test('prod trusts the production environment of this repository (GitHub sets sub to the environment)', () => {
    expect(trust('prod')[0].Condition.StringEquals['token.actions.githubusercontent.com:sub']).toBe(
      'repo:acme/dd0c:environment:production',
    );
  });

  test('the deploy role can only assume the CDK bootstrap roles', () => {
    const { json } = synth();
    const roleId = Object.keys(resources(json, 'AWS::IAM::Role')).find((id) => /GitHubDeployDeployRole/.test(id))!;
    const policy = Object.values<any>(resources(json, 'AWS::IAM::Policy')).find((p) => p.Properties.Roles[0].Ref === roleId);
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'AssumeCdkBootstrapRoles',
        Effect: 'Allow',
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/cdk-hnb659fds-*']] },
      },
    ]);
  });

  test('an existing provider can be reused (one per account)', () => {
    const { template } = synth({ context: { githubOidcProviderArn: 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com' } });
    template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
  });
});

describe('HTTP API', () => {
  const { json, template } = synth();

  test('every route exists; only ANY /v1/{proxy+} needs a Cognito JWT', () => {
    const routes = Object.values<any>(resources(json, 'AWS::ApiGatewayV2::Route'));
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const r of routes) {
      const protectedRoute = r.Properties.RouteKey === 'ANY /v1/{proxy+}';
      expect({ route: r.Properties.RouteKey, auth: r.Properties.AuthorizationType ?? 'NONE' }).toEqual({
        route: r.Properties.RouteKey,
        auth: protectedRoute ? 'JWT' : 'NONE',
      });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
    });
  });

  test('the stage throttles and writes access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 }),
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') }),
    });
  });
});

describe('Cognito', () => {
  test('GitHub and Google providers are parameters, created only when configured', () => {
    const { json } = synth();
    for (const p of ['GoogleClientId', 'GoogleClientSecret', 'GitHubClientId', 'GitHubClientSecret', 'GitHubOidcIssuerUrl']) {
      expect(json.Parameters[p]).toBeDefined();
    }
    expect(json.Parameters.GoogleClientSecret.NoEcho).toBe(true);
    expect(json.Parameters.GitHubClientSecret.NoEcho).toBe(true);
    const idps = Object.values<any>(resources(json, 'AWS::Cognito::UserPoolIdentityProvider'));
    expect(idps.map((i) => [i.Properties.ProviderType, i.Condition]).sort()).toEqual([
      ['Google', 'HasGoogleProvider'],
      ['OIDC', 'HasGitHubProvider'],
    ]);
  });
});

describe('web', () => {
  const { json } = synth();

  test('only *.yaml of the customer template bucket is public; the dashboard bucket is private behind CloudFront', () => {
    const policies = Object.values<any>(resources(json, 'AWS::S3::BucketPolicy'));
    const publicStatements = policies.flatMap((p) =>
      p.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Allow' && (s.Principal === '*' || s.Principal?.AWS === '*')),
    );
    expect(publicStatements).toHaveLength(1);
    expect(publicStatements[0].Action).toBe('s3:GetObject');
    expect(JSON.stringify(publicStatements[0].Resource)).toMatch(/\/\*\.yaml"/);
    const buckets = resources(json, 'AWS::S3::Bucket');
    const blockedAll = Object.values<any>(buckets).filter(
      (b) => JSON.stringify(b.Properties.PublicAccessBlockConfiguration) === JSON.stringify({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true }),
    );
    expect(blockedAll).toHaveLength(Object.keys(buckets).length - 1);
  });

  test('the customer template and the dashboard are deployed when present', () => {
    const withFiles = Object.keys(resources(json, 'Custom::CDKBucketDeployment'));
    expect(withFiles).toHaveLength(2);
    const without = Object.keys(resources(synth({ fixtures: false }).json, 'Custom::CDKBucketDeployment'));
    expect(without).toHaveLength(1); // config.json for the dashboard is always written
  });

  test('outputs give the operator the URLs and the quick-create link base', () => {
    for (const o of ['ApiUrl', 'DashboardUrl', 'CustomerTemplateUrl', 'QuickCreateLinkBase', 'EventBusArn', 'GitHubDeployRoleArn', 'OpsAlertsTopicArn']) {
      expect(json.Outputs[o]).toBeDefined();
    }
    expect(JSON.stringify(json.Outputs.QuickCreateLinkBase)).toContain('#/stacks/quickcreate?templateURL=');
  });
});

describe('customer account access', () => {
  test('exactly the functions that read customer accounts may sts:AssumeRole, never into this account', () => {
    const { json } = synth();
    const fns = Object.values<any>(resources(json, 'AWS::Lambda::Function'));
    const roleOf = (logicalId: string): string | undefined =>
      fns.find((f) => f.Properties.Role?.['Fn::GetAtt']?.[0] === logicalId)?.Properties.FunctionName;
    const assuming = new Set<string>();
    for (const policy of Object.values<any>(resources(json, 'AWS::IAM::Policy'))) {
      for (const s of policy.Properties.PolicyDocument.Statement) {
        const actions = [s.Action].flat();
        if (!actions.includes('sts:AssumeRole')) continue;
        for (const role of policy.Properties.Roles ?? []) {
          const name = roleOf(role.Ref);
          if (!name) continue;
          assuming.add(name);
          expect(s.Condition).toEqual({ StringNotEquals: { 'aws:ResourceAccount': { Ref: 'AWS::AccountId' } } });
        }
      }
    }
    // The normalizer describes instances it never saw launch (StartInstances pricing).
    expect([...assuming].sort()).toEqual(
      ['api', 'classifier', 'digest', 'normalizer', 'scorer'].map((n) => `dd0c-staging-${n}`),
    );
  });
});
