import { Aws, CfnMapping, Duration, RemovalPolicy, TimeZone } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EnvConfig } from '../config';
import { FUNCTION_NAMES, FunctionName, assetDirFor, functionSpecs } from '../functions';
import { RoutingTable, dlqName, inboxDlqName, inboxStreamName, queueEnvName, queueName } from '../routing';
import { TABLE_INDEXES } from '../table-indexes';


/** Where the ADOT collector extension receives OTLP/HTTP (its default configuration). */
export const OTLP_ENDPOINT = 'http://localhost:4318';

export interface PipelineProps {
  readonly routing: RoutingTable;
  readonly config: EnvConfig;
  /** Physical-name prefix, `dd0c-<env>`. */
  readonly prefix: string;
  readonly table: dynamodb.ITable;
  readonly slackTokenKey: kms.IKey;
  readonly slackSecret: secretsmanager.ISecret;
  readonly stripeSecret: secretsmanager.ISecret;
  readonly removalPolicy: RemovalPolicy;
  readonly dashboardUrl: string;
  readonly customerTemplateUrl: string;
  readonly cognito: { userPoolId: string; clientId: string };
}

/**
 * The event pipeline, generated from the routing table: the dd0c bus (customers' CloudTrail
 * events in) and its ingest rule, one FIFO queue and FIFO DLQ per `queues[]` entry, the nine
 * functions with send rights on the queues their events are routed to (`routes[].producers`),
 * the SQS event-source mappings, and the digest schedule.
 */
export class Pipeline extends Construct {
  public readonly bus: events.EventBus;
  public readonly queues: Record<string, sqs.Queue> = {};
  public readonly dlqs: Record<string, sqs.Queue> = {};
  /** Standard queue for events EventBridge or Scheduler could not deliver to a target. */
  public readonly deliveryDlq: sqs.Queue;
  /** Kinesis stream the ingest rule puts CloudTrail events on (partition key: the account); the ingest function drains it in batches. */
  public readonly inbox: kinesis.Stream;
  /** Its DLQ (standard SQS): events the ingest function dead-lettered with a reason, and the batches Lambda gave up on. */
  public readonly inboxDlq: sqs.Queue;
  public readonly functions = {} as Record<FunctionName, lambda.Function>;
  public readonly ingestRule: events.Rule;
  public readonly digestSchedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    const { routing, config, prefix } = props;
    const specs = functionSpecs(routing);

    this.bus = new events.EventBus(this, 'Bus', {
      // Exactly the routing table's name: the customer template forwards to event-bus/dd0c.
      // One environment per account and region.
      eventBusName: routing.bus_name,
      description: `dd0c ${config.envName}: customer CloudTrail events in`,
    });

    this.deliveryDlq = new sqs.Queue(this, 'DeliveryDlq', {
      queueName: `${prefix}-delivery-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });

    // --- queues: <prefix>-<name>.fifo with <prefix>-<name>-dlq.fifo ---------------------------
    for (const q of routing.queues) {
      const dlq = new sqs.Queue(this, `${pascal(q.name)}Dlq`, {
        queueName: dlqName(prefix, q.name),
        fifo: true,
        contentBasedDeduplication: false,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy: props.removalPolicy,
      });
      const queue = new sqs.Queue(this, `${pascal(q.name)}Queue`, {
        queueName: queueName(prefix, q.name),
        fifo: true,
        // Every sender gives a deduplication id (docs/decisions/0001-routing-and-deduplication.md).
        contentBasedDeduplication: false,
        deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
        // Lambda's guidance for SQS event sources: at least 6x the function timeout.
        visibilityTimeout: Duration.seconds(6 * q.consumer_timeout_seconds),
        retentionPeriod: Duration.days(4),
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        deadLetterQueue: { queue: dlq, maxReceiveCount: routing.max_receive_count },
        removalPolicy: props.removalPolicy,
      });
      this.queues[q.name] = queue;
      this.dlqs[q.name] = dlq;
    }

    // --- ingest inbox: the stream <prefix>-<inbox> with the queue <prefix>-<inbox>-dlq ----------
    // EventBridge cannot give a FIFO target a message group per account, and a Lambda target is
    // one invocation per event: the rule puts events on a stream partitioned by account, which
    // the ingest function drains in batches into ingest.fifo (docs/decisions/1060-ingest-inbox.md).
    const inboxSpec = routing.ingest_rule.inbox;
    this.inboxDlq = new sqs.Queue(this, 'InboxDlq', {
      queueName: inboxDlqName(prefix, inboxSpec.name),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy,
    });
    this.inbox = new kinesis.Stream(this, 'InboxStream', {
      streamName: inboxStreamName(prefix, inboxSpec.name),
      streamMode: kinesis.StreamMode.PROVISIONED,
      shardCount: inboxSpec.shards,
      // Kinesis's minimum: a batch Lambda gave up on can be read again for a day.
      retentionPeriod: Duration.hours(24),
      encryption: kinesis.StreamEncryption.MANAGED,
      removalPolicy: props.removalPolicy,
    });
    this.dlqs[inboxSpec.name] = this.inboxDlq;

    // --- functions -------------------------------------------------------------------------------
    const paramsAndSecrets = lambda.ParamsAndSecretsLayerVersion.fromVersion(
      lambda.ParamsAndSecretsVersions.V1_0_103,
      { cacheEnabled: true, cacheSize: 100, logLevel: lambda.ParamsAndSecretsLogLevel.WARN },
    );
    const needsSecrets: Partial<Record<FunctionName, secretsmanager.ISecret[]>> = {
      notifier: [props.slackSecret],
      digest: [props.slackSecret],
      slack: [props.slackSecret],
      stripe: [props.stripeSecret],
      api: [props.stripeSecret, props.slackSecret],
    };
    // A function may consume several queues (the normalizer: ingest and backfill).
    const consumed: Partial<Record<FunctionName, string[]>> = {};
    for (const q of routing.queues) (consumed[q.consumer as FunctionName] ??= []).push(q.name);
    const producedTo = producerQueues(routing);

    const tableAccess = new iam.PolicyStatement({
      actions: TABLE_ACTIONS,
      resources: [
        props.table.tableArn,
        ...TABLE_INDEXES.indexes.map((i) => `${props.table.tableArn}/index/${i.name}`),
      ],
    });
    // Tracing (decision 0710): the ADOT collector runs as a Lambda extension, receives the
    // functions' OTLP/HTTP spans on localhost and sends them on; without it nothing is traced.
    // The layer is AWS's (the ADOT publisher account, the same in every commercial region): its
    // account lives in a mapping, as the Parameters and Secrets layer's does.
    const awsOwnedLayers = new CfnMapping(this, 'AwsOwnedLayerAccounts', {
      mapping: { aws: { OtelCollector: '901920570463' } },
    });
    const collectorLayer =
      config.traceSamplePercent > 0
        ? lambda.LayerVersion.fromLayerVersionArn(
            this,
            'OtelCollectorLayer',
            `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${awsOwnedLayers.findInMap(Aws.PARTITION, 'OtelCollector')}:layer:${config.otelCollectorLayer}`,
          )
        : undefined;
    for (const name of FUNCTION_NAMES) {
      const spec = specs[name];
      const env: Record<string, string> = {
        TABLE_NAME: props.table.tableName,
        DD0C_ENV: config.envName,
        RUST_LOG: config.rustLog,
        // Spans of sampled events go to the ADOT collector layer beside the function.
        OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_ENDPOINT,
        DD0C_TRACE_SAMPLE_PERCENT: String(config.traceSamplePercent),
      };
      const queueNames = new Set<string>();
      for (const qn of consumed[name] ?? []) queueNames.add(qn);
      if (name === routing.ingest_rule.function) {
        queueNames.add(routing.ingest_rule.queue);
        // The function dead-letters what it cannot read to the inbox's DLQ, with the reason.
        env[queueEnvName('DLQ_URL', routing.ingest_rule.inbox.name)] = this.inboxDlq.queueUrl;
      }
      for (const qn of queueNames) {
        env[queueEnvName('QUEUE_URL', qn)] = this.queues[qn].queueUrl;
        env[queueEnvName('DLQ_URL', qn)] = this.dlqs[qn].queueUrl;
      }
      for (const qn of producedTo[name] ?? []) env[queueEnvName('QUEUE_URL', qn)] = this.queues[qn].queueUrl;
      const secrets = needsSecrets[name] ?? [];
      if (secrets.includes(props.slackSecret)) env.SLACK_SECRET_ARN = props.slackSecret.secretArn;
      if (secrets.includes(props.stripeSecret)) env.STRIPE_SECRET_ARN = props.stripeSecret.secretArn;
      if (name === 'notifier' || name === 'digest' || name === 'slack') {
        env.SLACK_TOKEN_KMS_KEY_ID = props.slackTokenKey.keyArn;
      }
      if (name === 'notifier' || name === 'digest' || name === 'slack' || name === 'api') {
        env.DASHBOARD_URL = props.dashboardUrl;
      }
      if (name === 'api') {
        env.COGNITO_USER_POOL_ID = props.cognito.userPoolId;
        env.COGNITO_CLIENT_ID = props.cognito.clientId;
        env.COGNITO_REGION = Aws.REGION;
        env.CUSTOMER_TEMPLATE_URL = props.customerTemplateUrl;
        env.DD0C_ACCOUNT_ID = Aws.ACCOUNT_ID;
      }

      const logGroup = new logs.LogGroup(this, `${pascal(name)}Logs`, {
        retention: retentionDays(config.logRetentionDays),
        removalPolicy: props.removalPolicy,
      });
      // Own role instead of AWSLambdaBasicExecutionRole: logs go to this function's log group only.
      const role = new iam.Role(this, `${pascal(name)}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `dd0c ${config.envName} ${name} function`,
      });
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );
      const fn = new lambda.Function(this, `${pascal(name)}Function`, {
        functionName: `${prefix}-${name}`,
        description: spec.description,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(assetDirFor(name, config.lambdaAssetRoot, config.forDeploy)),
        memorySize: spec.memoryMb,
        timeout: Duration.seconds(spec.timeoutSeconds),
        reservedConcurrentExecutions: config.reservedConcurrency ? spec.reservedConcurrency : undefined,
        // shared/functions.json (docs/decisions/1030-cost-per-event.md): X-Ray's sampling cannot
        // be set for Lambda (1/s and 5% of the rest) and its START/REPORT lines are per
        // invocation; the meter bills both.
        tracing: spec.tracing === 'active' ? lambda.Tracing.ACTIVE : lambda.Tracing.PASS_THROUGH,
        loggingFormat: lambda.LoggingFormat.JSON,
        systemLogLevelV2: lambda.SystemLogLevel[spec.systemLogLevel],
        logGroup,
        role,
        environment: env,
        paramsAndSecrets: secrets.length > 0 ? paramsAndSecrets : undefined,
        layers: collectorLayer ? [collectorLayer] : undefined,
      });
      if (collectorLayer) {
        // The collector's default configuration exports traces to X-Ray.
        role.addToPolicy(
          new iam.PolicyStatement({
            actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
            resources: ['*'],
          }),
        );
      }
      this.functions[name] = fn;

      // Item-level read/write on the table and its two indexes, named (no index/* wildcard).
      role.addToPolicy(tableAccess);
      for (const s of secrets) s.grantRead(fn);
      for (const qn of queueNames) {
        // Every consumer dead-letters bad records itself (with the reason) to its DLQ.
        this.dlqs[qn].grantSendMessages(fn);
      }
    }

    const fns = this.functions;
    // Producers.
    this.queues[routing.ingest_rule.queue].grantSendMessages(fns[routing.ingest_rule.function as FunctionName]);
    this.inboxDlq.grantSendMessages(fns[routing.ingest_rule.function as FunctionName]);
    // Internal events go straight to their queue, in a message group per tenant or account
    // (EventBridge rules could only give a FIFO target one static group: every tenant in line
    // behind every other).
    for (const name of FUNCTION_NAMES) {
      for (const qn of producedTo[name] ?? []) this.queues[qn].grantSendMessages(fns[name]);
    }
    // Slack bot tokens: envelope encryption (slack encrypts at install; the senders decrypt).
    props.slackTokenKey.grant(fns.slack, 'kms:GenerateDataKey', 'kms:Decrypt');
    props.slackTokenKey.grantDecrypt(fns.notifier);
    props.slackTokenKey.grantDecrypt(fns.digest);
    // Customer accounts: AssumeRole into the read-only role the customer template creates
    // (trust + ExternalId enforced on the customer's side); never into a role of this account.
    // The slack function assumes the optional remediation role when a permitted person clicks
    // a remediation button (docs/decisions/0520-remediation.md).
    const assumeCustomerRole = new iam.PolicyStatement({
      actions: ['sts:AssumeRole'],
      resources: [`arn:${Aws.PARTITION}:iam::*:role/*`],
      conditions: { StringNotEquals: { 'aws:ResourceAccount': Aws.ACCOUNT_ID } },
    });
    for (const name of ['normalizer', 'scorer', 'classifier', 'digest', 'api', 'slack'] as FunctionName[]) {
      fns[name].addToRolePolicy(assumeCustomerRole);
    }

    // --- SQS event-source mappings (queue -> consumer) ----------------------------------------
    for (const q of routing.queues) {
      const consumer = fns[q.consumer as FunctionName];
      if (!consumer) throw new Error(`routing: queue "${q.name}" names unknown consumer "${q.consumer}"`);
      consumer.addEventSource(
        new SqsEventSource(this.queues[q.name], {
          batchSize: q.batch_size,
          reportBatchItemFailures: true,
          maxConcurrency: specs[q.consumer as FunctionName].sqsMaxConcurrency,
        }),
      );
    }

    // --- ingest rule -------------------------------------------------------------------------
    // Ingest: customer CloudTrail events (forwarded by the customer's rule) -> the inbox queue ->
    // the ingest function, in batches -> ingest.fifo with group = account and dedup id = eventID.
    this.ingestRule = new events.Rule(this, 'IngestRule', {
      eventBus: this.bus,
      description: `${routing.ingest_rule.detail_type} -> ${inboxSpec.name} -> ${routing.ingest_rule.function} -> ${routing.ingest_rule.queue}.fifo`,
      // Only AWS services can publish events whose source starts with "aws.": a customer can
      // forward real CloudTrail events but cannot forge them with PutEvents.
      eventPattern: { detailType: [routing.ingest_rule.detail_type], source: events.Match.prefix('aws.') },
    });
    this.ingestRule.addTarget(
      new targets.KinesisStream(this.inbox, {
        // One account's events stay in order on one shard.
        partitionKeyPath: '$.account',
        deadLetterQueue: this.deliveryDlq,
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
      }),
    );
    fns[routing.ingest_rule.function as FunctionName].addEventSource(
      new KinesisEventSource(this.inbox, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: inboxSpec.batch_size,
        maxBatchingWindow: Duration.seconds(inboxSpec.batching_window_seconds),
        // One batch at a time per shard: the ingest function only forwards; per-account
        // concurrency is the ingest queue's (a message group per account).
        parallelizationFactor: 1,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: inboxSpec.retry_attempts,
        maxRecordAge: Duration.hours(24),
        onFailure: new SqsDlq(this.inboxDlq),
      }),
    );

    // --- digest schedule ----------------------------------------------------------------------
    // Hourly at minute 0 UTC: the digest function sends each tenant's daily digest when it is
    // 09:00 in the tenant's time zone (UTC unless set), and runs the housekeeping jobs.
    this.digestSchedule = new scheduler.Schedule(this, 'DigestSchedule', {
      scheduleName: `${prefix}-digest-hourly`,
      description: 'dd0c digest tick: hourly; 09:00 tenant-local digest decided in the function',
      schedule: scheduler.ScheduleExpression.cron({ minute: '0', timeZone: TimeZone.ETC_UTC }),
      target: new schedulerTargets.LambdaInvoke(fns.digest, {
        input: scheduler.ScheduleTargetInput.fromObject({
          source: 'dd0c.scheduler',
          kind: 'tick',
          scheduled_time: scheduler.ContextAttribute.scheduledTime,
        }),
        deadLetterQueue: this.deliveryDlq,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}

/** The queues each function sends its events to (`routes[].producers` of the routing table). */
export function producerQueues(routing: RoutingTable): Partial<Record<FunctionName, string[]>> {
  const out: Partial<Record<FunctionName, string[]>> = {};
  for (const r of routing.routes) {
    for (const p of r.producers) {
      if (!(FUNCTION_NAMES as readonly string[]).includes(p)) {
        throw new Error(`routing: route "${r.detail_type}" names unknown producer "${p}"`);
      }
      const list = (out[p as FunctionName] ??= []);
      if (!list.includes(r.queue)) list.push(r.queue);
    }
  }
  return out;
}


const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:DescribeTable',
];

export function pascal(s: string): string {
  return s
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p.length > 0)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

function retentionDays(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v) => typeof v === 'number') as number[];
  const match = allowed.find((d) => d === days);
  if (match === undefined) throw new Error(`logRetentionDays=${days} is not a CloudWatch Logs retention value`);
  return match as logs.RetentionDays;
}
