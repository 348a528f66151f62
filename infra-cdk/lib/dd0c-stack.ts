import { CfnOutput, RemovalPolicy, SecretValue, Stack, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EnvConfig } from './config';
import { Api } from './constructs/api';
import { Auth } from './constructs/auth';
import { GitHubDeploy } from './constructs/github-deploy';
import { Ops } from './constructs/ops';
import { Pipeline } from './constructs/pipeline';
import { TABLE_INDEXES } from './table-indexes';
import { Waf } from './constructs/waf';
import { Web } from './constructs/web';
import { HttpRouteTable } from './http-routes';
import { MetricsTable } from './metrics';
import { RoutingTable } from './routing';

export interface Dd0cStackProps extends StackProps {
  readonly config: EnvConfig;
  readonly routing: RoutingTable;
  readonly httpRoutes: HttpRouteTable;
  /** shared/metrics.json: the EMF metrics the dashboard draws. */
  readonly metrics: MetricsTable;
  /** Overrides for tests (no dashboard / template folder lookups). */
  readonly dashboardDir?: string;
  readonly templateDir?: string;
}

export class Dd0cStack extends Stack {
  public readonly table: dynamodb.Table;
  public readonly pipeline: Pipeline;
  public readonly web: Web;
  public readonly auth: Auth;
  public readonly api: Api;
  public readonly ops: Ops;
  public readonly waf: Waf;
  public readonly githubDeploy?: GitHubDeploy;
  public readonly slackTokenKey: kms.Key;
  public readonly slackSecret: secretsmanager.Secret;
  public readonly stripeSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: Dd0cStackProps) {
    super(scope, id, props);
    const { config, routing } = props;
    const prod = config.envName === 'prod';
    const prefix = `dd0c-${config.envName}`;
    // Prod keeps its data when a resource is removed from the app; staging cleans up.
    const removalPolicy = prod ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // --- data ---------------------------------------------------------------------------------
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: `${prefix}-main`,
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: prod,
      timeToLiveAttribute: 'ttl',
      removalPolicy,
    });
    for (const index of TABLE_INDEXES.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partition_key, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sort_key, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.INCLUDE,
        nonKeyAttributes: TABLE_INDEXES.projected_attributes,
      });
    }

    this.slackTokenKey = new kms.Key(this, 'SlackTokenKey', {
      alias: `${prefix}/slack-tokens`,
      description: 'dd0c: envelope encryption of Slack bot tokens stored in DynamoDB',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Secrets: created with placeholder values; the operator puts the real ones (docs/deploy.md).
    // Functions read them through the Parameters and Secrets Lambda Extension.
    const slackSecret = (this.slackSecret = new secretsmanager.Secret(this, 'SlackSecret', {
      secretName: `${prefix}/slack`,
      description: 'Slack app credentials: signing_secret, client_id, client_secret',
      secretObjectValue: {
        signing_secret: SecretValue.unsafePlainText('REPLACE_ME'),
        client_id: SecretValue.unsafePlainText('REPLACE_ME'),
        client_secret: SecretValue.unsafePlainText('REPLACE_ME'),
      },
      removalPolicy,
    }));
    const stripeSecret = (this.stripeSecret = new secretsmanager.Secret(this, 'StripeSecret', {
      secretName: `${prefix}/stripe`,
      description: 'Stripe credentials: webhook_secret, api_key, price_id',
      secretObjectValue: {
        webhook_secret: SecretValue.unsafePlainText('REPLACE_ME'),
        api_key: SecretValue.unsafePlainText('REPLACE_ME'),
        price_id: SecretValue.unsafePlainText('REPLACE_ME'),
      },
      removalPolicy,
    }));

    // --- web, auth, pipeline, api -------------------------------------------------------------
    this.web = new Web(this, 'Web', {
      prefix,
      removalPolicy: RemovalPolicy.RETAIN,
      dashboardDir: props.dashboardDir,
      templateDir: props.templateDir,
    });
    this.auth = new Auth(this, 'Auth', {
      prefix,
      removalPolicy,
      deletionProtection: prod,
      dashboardUrl: this.web.dashboardUrl,
    });
    this.pipeline = new Pipeline(this, 'Pipeline', {
      routing,
      config,
      prefix,
      table: this.table,
      slackTokenKey: this.slackTokenKey,
      slackSecret,
      stripeSecret,
      removalPolicy,
      dashboardUrl: this.web.dashboardUrl,
      customerTemplateUrl: this.web.customerTemplateUrl,
      cognito: { userPoolId: this.auth.userPool.userPoolId, clientId: this.auth.client.userPoolClientId },
    });
    this.api = new Api(this, 'Api', {
      prefix,
      functions: this.pipeline.functions,
      userPool: this.auth.userPool,
      userPoolClient: this.auth.client,
      dashboardUrl: this.web.dashboardUrl,
      routeTable: props.httpRoutes,
      rateLimit: config.apiRateLimit,
      burstLimit: config.apiBurstLimit,
      logRetention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    // docs/decisions/0820-rate-limits.md: WAF where AWS supports it (the user pool, the
    // dashboard's distribution in us-east-1); the HTTP API has per-route throttles instead.
    this.waf = new Waf(this, 'Waf', {
      prefix,
      routeTable: props.httpRoutes,
      userPool: this.auth.userPool,
      distribution: this.web.distribution,
    });
    this.web.addDeployments({
      env: config.envName,
      apiUrl: this.api.url,
      region: this.region,
      cognitoUserPoolId: this.auth.userPool.userPoolId,
      cognitoClientId: this.auth.client.userPoolClientId,
      cognitoDomain: this.auth.domain.baseUrl(),
    });

    // --- who may put events on the bus --------------------------------------------------------
    // docs/decisions/0810-open-bus-onboarding.md: any account may forward its CloudTrail API-call
    // events, so connecting an account needs no operator deploy; ingest drops, at once, events
    // from accounts no tenant has connected. The conditions keep the bus to exactly what the
    // customer template forwards: that detail-type, from AWS sources (`aws.*`), which PutEvents
    // cannot forge: a stranger can only send its own real CloudTrail events, at its own cost.
    const bus = this.pipeline.bus;
    const forwardedCloudTrail = {
      StringEquals: { 'events:detail-type': routing.ingest_rule.detail_type },
      StringLike: { 'events:source': 'aws.*' },
    };
    const putEvents = (sid: string, principals: iam.IPrincipal[]): void => {
      bus.addToResourcePolicy(
        new iam.PolicyStatement({ sid, principals, actions: ['events:PutEvents'], resources: [bus.eventBusArn], conditions: forwardedCloudTrail }),
      );
    };
    // Optional narrowing (cdk.json / -c): when either is set, only those accounts or that
    // organisation may put events, and the bus is not open to every account.
    if (config.customerAccountIds.length > 0) {
      putEvents('CustomerAccountsPutEvents', config.customerAccountIds.map((a) => new iam.AccountPrincipal(a)));
    }
    if (config.customerOrganizationId) {
      putEvents('CustomerOrganizationPutEvents', [new iam.OrganizationPrincipal(config.customerOrganizationId)]);
    }
    if (config.customerAccountIds.length === 0 && !config.customerOrganizationId) {
      putEvents('AnyAccountForwardsCloudTrail', [new iam.AnyPrincipal()]);
    }

    // --- operations ---------------------------------------------------------------------------
    const dlqs: Record<string, sqs.IQueue> = { delivery: this.pipeline.deliveryDlq };
    for (const [name, q] of Object.entries(this.pipeline.dlqs)) dlqs[name] = q;
    this.ops = new Ops(this, 'Ops', {
      prefix,
      alarmEmail: config.alarmEmail,
      functions: this.pipeline.functions,
      queues: this.pipeline.queues,
      dlqs,
      ingestQueueName: routing.ingest_rule.queue,
      inbox: this.pipeline.inbox,
      oldestMessageAgeSeconds: 300,
      httpApi: this.api.httpApi,
      metrics: props.metrics,
    });

    if (config.githubRepo) {
      this.githubDeploy = new GitHubDeploy(this, 'GitHubDeploy', {
        prefix,
        repo: config.githubRepo,
        subjects: config.deploySubjects,
        existingProviderArn: config.githubOidcProviderArn,
      });
    }

    // --- outputs --------------------------------------------------------------------------------
    const out = (id: string, value: string, description: string): void => {
      new CfnOutput(this, id, { value, description });
    };
    out('ApiUrl', this.api.url, 'HTTP API base URL (routes under /v1/)');
    out('DashboardUrl', this.web.dashboardUrl, 'Static dashboard (CloudFront)');
    out('CustomerTemplateUrl', this.web.customerTemplateUrl, 'Public customer CloudFormation template (S3)');
    out('QuickCreateLinkBase', this.web.quickCreateLinkBase, 'CloudFormation quick-create link; the API appends &param_ExternalId=<tenant uuid>');
    out('EventBusArn', bus.eventBusArn, 'dd0c bus: the customer template forwards CloudTrail events here');
    out('EventBusName', bus.eventBusName, 'dd0c bus name (customers forward CloudTrail events to it)');
    out('TableName', this.table.tableName, 'DynamoDB table (TABLE_NAME)');
    out('UserPoolId', this.auth.userPool.userPoolId, 'Cognito user pool');
    out('UserPoolClientId', this.auth.client.userPoolClientId, 'Cognito app client of the dashboard');
    out('CognitoDomain', this.auth.domain.baseUrl(), 'Cognito hosted UI');
    out('OpsAlertsTopicArn', this.ops.topic.topicArn, 'SNS topic of every alarm');
    out('SlackSecretArn', slackSecret.secretArn, 'Put the Slack app credentials here');
    out('StripeSecretArn', stripeSecret.secretArn, 'Put the Stripe credentials here');
    out('CloudWatchDashboard', this.ops.dashboard.dashboardName, 'CloudWatch dashboard of the pipeline');
    if (this.githubDeploy) {
      out('GitHubDeployRoleArn', this.githubDeploy.role.roleArn, 'role-to-assume for .github/workflows/deploy.yml');
    }
  }
}
