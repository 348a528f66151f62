import { Aws, Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MetricsTable, STATISTIC_OF_UNIT, metricGraphs } from '../metrics';
import { pascal } from './pipeline';

export interface OpsProps {
  readonly prefix: string;
  readonly alarmEmail?: string;
  readonly functions: Record<string, lambda.IFunction>;
  /** Main queues by routing name. */
  readonly queues: Record<string, sqs.IQueue>;
  /** Every dead-letter queue, by a short name. */
  readonly dlqs: Record<string, sqs.IQueue>;
  /**
   * Queues that, like DLQs, only ever hold failures, by their name after the prefix: alarmed and
   * graphed exactly like the DLQs.
   */
  readonly failureQueues?: Record<string, sqs.IQueue>;
  /** The ingest inbox stream, whose oldest unread record must not age past `oldestMessageAgeSeconds` either. */
  readonly inbox?: kinesis.IStream;
  /** Queue whose oldest message must not age past `oldestMessageAgeSeconds` (ingest). */
  readonly ingestQueueName: string;
  readonly oldestMessageAgeSeconds: number;
  readonly httpApi: apigwv2.IHttpApi;
  /** shared/metrics.json: every EMF metric the functions emit, and the graph that draws it. */
  readonly metrics: MetricsTable;
}

const FIVE_MINUTES = Duration.minutes(5);

/** SNS `ops-alerts`, the alarms and the CloudWatch dashboard. */
export class Ops extends Construct {
  public readonly topic: sns.Topic;
  public readonly dashboard: cloudwatch.Dashboard;
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: OpsProps) {
    super(scope, id);

    // CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key: own key.
    const key = new kms.Key(this, 'OpsAlertsKey', {
      description: `${props.prefix} ops-alerts topic encryption`,
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.topic = new sns.Topic(this, 'OpsAlerts', {
      topicName: `${props.prefix}-ops-alerts`,
      displayName: 'dd0c ops alerts',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
    const action = new cwActions.SnsAction(this.topic);
    const add = (alarm: cloudwatch.Alarm): cloudwatch.Alarm => {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
      return alarm;
    };

    // --- per function: error rate > 5% over 5 minutes, throttles ------------------------------
    for (const [name, fn] of Object.entries(props.functions)) {
      const errorRate = new cloudwatch.MathExpression({
        label: `${name} error rate (%)`,
        expression: 'IF(invocations > 0, 100 * errors / invocations, 0)',
        usingMetrics: {
          errors: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
          invocations: fn.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' }),
        },
        period: FIVE_MINUTES,
      });
      add(
        new cloudwatch.Alarm(this, `${pascal(name)}ErrorRate`, {
          alarmName: `${props.prefix}-${name}-error-rate`,
          alarmDescription: `${name}: more than 5% of invocations failed over 5 minutes`,
          metric: errorRate,
          threshold: 5,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new cloudwatch.Alarm(this, `${pascal(name)}Throttles`, {
          alarmName: `${props.prefix}-${name}-throttles`,
          alarmDescription: `${name}: invocations throttled (concurrency limit reached)`,
          metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // --- every DLQ and failure queue: any visible message -------------------------------------
    const notEmpty = (id: string, alarmName: string, description: string, queue: sqs.IQueue): void => {
      add(
        new cloudwatch.Alarm(this, id, {
          alarmName,
          alarmDescription: description,
          metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    };
    for (const [name, dlq] of Object.entries(props.dlqs)) {
      notEmpty(`${pascal(name)}DlqNotEmpty`, `${props.prefix}-${name}-dlq-not-empty`, `${name} DLQ has messages: inspect, fix, then redrive`, dlq);
    }
    const failureQueues = props.failureQueues ?? {};
    for (const [name, queue] of Object.entries(failureQueues)) {
      notEmpty(
        `${pascal(name)}NotEmpty`,
        `${props.prefix}-${name}-not-empty`,
        `${props.prefix}-${name} has messages (events a function failed on after its retries): inspect, fix, then redrive`,
        queue,
      );
    }

    // --- queues: oldest message age -----------------------------------------------------------
    for (const [name, queue] of Object.entries(props.queues)) {
      add(
        new cloudwatch.Alarm(this, `${pascal(name)}QueueOldestMessage`, {
          alarmName: `${props.prefix}-${name}-oldest-message-age`,
          alarmDescription: `${name}: oldest message older than ${props.oldestMessageAgeSeconds} s (consumer stuck or too slow)`,
          metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
          threshold: props.oldestMessageAgeSeconds,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // --- the inbox stream: how far behind its reader is --------------------------------------
    if (props.inbox) {
      add(
        new cloudwatch.Alarm(this, 'InboxIteratorAge', {
          alarmName: `${props.prefix}-inbox-iterator-age`,
          alarmDescription: `inbox stream: oldest unread record older than ${props.oldestMessageAgeSeconds} s (ingest stuck or too slow)`,
          metric: props.inbox.metricGetRecordsIteratorAgeMilliseconds({ period: Duration.minutes(1), statistic: 'Maximum' }),
          threshold: props.oldestMessageAgeSeconds * 1000,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // --- API: 5xx rate > 5% over 5 minutes ----------------------------------------------------
    const api5xxRate = new cloudwatch.MathExpression({
      label: 'API 5xx rate (%)',
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: {
        errors: props.httpApi.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }),
        requests: props.httpApi.metricCount({ period: FIVE_MINUTES, statistic: 'Sum' }),
      },
      period: FIVE_MINUTES,
    });
    add(
      new cloudwatch.Alarm(this, 'Api5xxRate', {
        alarmName: `${props.prefix}-api-5xx-rate`,
        alarmDescription: 'HTTP API: more than 5% of requests answered 5xx over 5 minutes',
        metric: api5xxRate,
        threshold: 5,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // --- dashboard ------------------------------------------------------------------------------
    // EMF metrics (shared/metrics.json): one line per metric, graphs as the file groups them.
    // SEARCH shows one line per value of the dimension (the stage) whatever values the
    // functions use, without an API call on the hot path.
    const { namespace, dimension } = props.metrics;
    const emf = (metric: string, label: string, statistic: string): cloudwatch.MathExpression =>
      new cloudwatch.MathExpression({
        label,
        expression: `SEARCH('{${namespace},${dimension}} MetricName="${metric}"', '${statistic}', 300)`,
        usingMetrics: {},
        period: FIVE_MINUTES,
      });
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8): cloudwatch.GraphWidget =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${props.prefix}-pipeline`,
      defaultInterval: Duration.hours(24),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          '# dd0c pipeline\nCloudTrail events in → inbox → ingest → ingest.fifo → normalizer → score / classify → findings → alerts.fifo → notifier → Slack or digest. Any DLQ above zero pages `ops-alerts`.',
        width: 24,
        height: 2,
      }),
    );
    const emfGraphs = metricGraphs(props.metrics).map(([title, metrics]) =>
      graph(
        title,
        metrics.map((m) => emf(m.name, m.label, STATISTIC_OF_UNIT[m.unit])),
      ),
    );
    for (let i = 0; i < emfGraphs.length; i += 3) this.dashboard.addWidgets(...emfGraphs.slice(i, i + 3));
    this.dashboard.addWidgets(
      graph(
        'DLQ and failure queue depths',
        Object.entries({ ...props.dlqs, ...failureQueues }).map(([name, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ label: name, period: Duration.minutes(1), statistic: 'Maximum' }),
        ),
      ),
      graph(
        'Queue backlog (visible)',
        Object.entries(props.queues).map(([name, q]) =>
          q.metricApproximateNumberOfMessagesVisible({ label: name, period: Duration.minutes(1), statistic: 'Maximum' }),
        ),
      ),
      graph(
        'Oldest message age (s)',
        Object.entries(props.queues).map(([name, q]) =>
          q.metricApproximateAgeOfOldestMessage({ label: name, period: Duration.minutes(1), statistic: 'Maximum' }),
        ),
      ),
    );
    if (props.inbox) {
      this.dashboard.addWidgets(
        graph('Inbox stream', [
          props.inbox.metricIncomingRecords({ label: 'records in', period: Duration.minutes(1), statistic: 'Sum' }),
          props.inbox.metricGetRecordsIteratorAgeMilliseconds({ label: 'iterator age (ms)', period: Duration.minutes(1), statistic: 'Maximum' }),
          props.inbox.metricPutRecordsThrottledRecords({ label: 'throttled puts', period: Duration.minutes(1), statistic: 'Sum' }),
        ]),
      );
    }
    this.dashboard.addWidgets(
      graph('API', [
        props.httpApi.metricCount({ label: 'requests', period: FIVE_MINUTES }),
        props.httpApi.metricClientError({ label: '4xx', period: FIVE_MINUTES }),
        props.httpApi.metricServerError({ label: '5xx', period: FIVE_MINUTES }),
      ]),
      graph(
        'Lambda errors',
        Object.entries(props.functions).map(([name, fn]) => fn.metricErrors({ label: name, period: FIVE_MINUTES })),
      ),
      graph(
        'Lambda throttles',
        Object.entries(props.functions).map(([name, fn]) => fn.metricThrottles({ label: name, period: FIVE_MINUTES })),
      ),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 6 }),
    );
  }
}
