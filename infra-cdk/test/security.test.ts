import { Match } from 'aws-cdk-lib/assertions';
import { busPolicyProblems, joinPartition } from './checks';
import { clone, resources, synth } from './helpers';

describe('event bus resource policy (docs/decisions/0810-open-bus-onboarding.md)', () => {
  const FORWARDED_CLOUDTRAIL = {
    StringEquals: { 'events:detail-type': 'AWS API Call via CloudTrail' },
    StringLike: { 'events:source': 'aws.*' },
  };
  const statements = (json: any): any[] =>
    Object.values<any>(resources(json, 'AWS::Events::EventBusPolicy')).map((p) => p.Properties.Statement);

  test('by default any account may forward CloudTrail API-call events from AWS sources, and nothing else', () => {
    const { json } = synth();
    expect(busPolicyProblems(json)).toEqual([]);
    const [busId] = Object.keys(resources(json, 'AWS::Events::EventBus'));
    expect(statements(json)).toEqual([
      {
        Sid: 'cdk-AnyAccountForwardsCloudTrail', // aws-events prefixes statement ids with cdk-
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'events:PutEvents',
        Resource: { 'Fn::GetAtt': [busId, 'Arn'] },
        Condition: FORWARDED_CLOUDTRAIL,
      },
    ]);
  });

  test('customerAccountIds narrows the bus to exactly those accounts (no open statement)', () => {
    const { json } = synth({ context: { customerAccountIds: '111111111111,222222222222' } });
    expect(busPolicyProblems(json)).toEqual([]);
    const s = statements(json);
    expect(s).toHaveLength(1);
    expect([s[0].Sid, s[0].Effect, s[0].Action, s[0].Condition]).toEqual(['cdk-CustomerAccountsPutEvents', 'Allow', 'events:PutEvents', FORWARDED_CLOUDTRAIL]);
    expect(s[0].Principal.AWS.map(joinPartition)).toEqual(['arn:aws:iam::111111111111:root', 'arn:aws:iam::222222222222:root']);
  });

  test('customerOrganizationId narrows the bus to that organisation (aws:PrincipalOrgID)', () => {
    const { json } = synth({ context: { customerOrganizationId: 'o-abcdefghij' } });
    expect(busPolicyProblems(json)).toEqual([]);
    const s = statements(json);
    expect(s).toHaveLength(1);
    expect(s[0].Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij', 'events:detail-type': 'AWS API Call via CloudTrail' },
      StringLike: { 'events:source': 'aws.*' },
    });
  });

  test.each([
    ['without the source condition', (s: any) => delete s.Condition.StringLike, /no events:source like "aws\.\*" condition/],
    ['without the detail-type condition', (s: any) => delete s.Condition.StringEquals, /no events:detail-type/],
    ['with another action', (s: any) => (s.Action = ['events:PutEvents', 'events:PutRule']), /allows/],
  ])('the check fails on an open policy %s', (_name, mutate, expected) => {
    const broken = clone(synth().json);
    mutate(Object.values<any>(resources(broken, 'AWS::Events::EventBusPolicy'))[0].Properties.Statement);
    expect(busPolicyProblems(broken).join('\n')).toMatch(expected);
  });

  test('bad narrowing entries fail synth', () => {
    expect(() => synth({ context: { customerAccountIds: '*' } })).toThrow(/12-digit/);
    expect(() => synth({ context: { customerOrganizationId: '*' } })).toThrow(/Organizations id/);
  });
});

describe('who can reach which rule', () => {
  const { json } = synth();
  const rules = Object.values<any>(resources(json, 'AWS::Events::Rule'));

  test('customers share the bus, but nothing on it reaches an internal queue: only our functions send there', () => {
    expect(rules.filter((r) => r.Properties.EventPattern.source?.[0] === 'dd0c.pipeline')).toEqual([]);
    const queuePolicies = Object.values<any>(resources(json, 'AWS::SQS::QueuePolicy'));
    const allows = queuePolicies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((st: any) => st.Effect === 'Allow');
    // The inbox takes the ingest rule's events and the delivery DLQ EventBridge's failures; no FIFO queue is a target.
    const fifoIds = Object.entries<any>(resources(json, 'AWS::SQS::Queue'))
      .filter(([, q]) => q.Properties.FifoQueue === true)
      .map(([id]) => id);
    for (const st of allows) {
      const targets = JSON.stringify(st.Resource ?? '');
      for (const id of fifoIds) expect({ id, allowed: targets.includes(`"${id}"`) }).toEqual({ id, allowed: false });
    }
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
          // The keys and the TTL only: the store reads the rest of an item from the table
          // (shared/table-indexes.json, decision 1090).
          ...['GSI1', 'GSI2'].map((name) =>
            Match.objectLike({
              IndexName: name,
              KeySchema: [{ AttributeName: `${name}PK`, KeyType: 'HASH' }, { AttributeName: `${name}SK`, KeyType: 'RANGE' }],
              Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['ttl'] },
            }),
          ),
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
  // Routes, their functions and authorizers: test/http-routes-parity.test.ts.
  const { template } = synth();

  test('the stage throttles and writes access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 }),
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') }),
    });
  });
});

describe('Cognito', () => {
  const client = (json: any) => Object.values<any>(resources(json, 'AWS::Cognito::UserPoolClient'))[0].Properties;

  test('the dashboard client: authorization code grant only (PKCE), no implicit grant, no secret, callback <dashboard>/', () => {
    const { json } = synth();
    const c = client(json);
    expect(c.AllowedOAuthFlows).toEqual(['code']);
    expect(c.AllowedOAuthFlowsUserPoolClient).toBe(true);
    expect(c.GenerateSecret).toBe(false);
    const dashboard = json.Outputs.DashboardUrl.Value; // {"Fn::Join": ["", ["https://", <domain>]]}
    const withSlash = { 'Fn::Join': ['', [...dashboard['Fn::Join'][1], '/']] };
    expect(c.CallbackURLs).toContainEqual(withSlash);
    expect(c.AllowedOAuthScopes).toEqual(expect.arrayContaining(['openid']));
  });

  test('the tenant is not a user attribute: no custom tenant attribute, and the client writes only named standard attributes', () => {
    const { json } = synth();
    const [pool] = Object.values<any>(resources(json, 'AWS::Cognito::UserPool'));
    const schema: any[] = pool.Properties.Schema ?? [];
    expect(schema.filter((a) => /tenant/i.test(a.Name))).toEqual([]);
    // Without WriteAttributes a client may write every writable attribute, custom ones included.
    const write: string[] | undefined = client(json).WriteAttributes;
    expect(write).toBeDefined();
    expect(write!.filter((a) => a.startsWith('custom:') || /tenant/i.test(a))).toEqual([]);
    // Federated sign-in writes the mapped attributes through the client: they must stay writable.
    expect(write).toEqual(expect.arrayContaining(['email', 'given_name', 'family_name']));
  });

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
    // The normalizer describes instances it never saw launch (StartInstances pricing); slack
    // assumes the remediation role when a permitted person asks for a remediation.
    expect([...assuming].sort()).toEqual(
      ['api', 'classifier', 'digest', 'normalizer', 'scorer', 'slack'].map((n) => `dd0c-staging-${n}`),
    );
  });
});
