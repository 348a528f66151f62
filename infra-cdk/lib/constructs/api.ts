import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { FunctionName } from '../functions';

export interface ApiProps {
  readonly prefix: string;
  readonly functions: Record<FunctionName, lambda.IFunction>;
  readonly userPool: cognito.IUserPool;
  readonly userPoolClient: cognito.IUserPoolClient;
  readonly dashboardUrl: string;
  readonly rateLimit: number;
  readonly burstLimit: number;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** One route of the HTTP API (the same paths `dd0c serve` exposes locally; see CONTRACTS.md). */
export interface ApiRoute {
  readonly method: apigwv2.HttpMethod;
  readonly path: string;
  readonly fn: FunctionName;
  /** Why the route has no Cognito authorizer (undefined: Cognito JWT required). */
  readonly publicBecause?: string;
}

export const API_ROUTES: ApiRoute[] = [
  { method: apigwv2.HttpMethod.POST, path: '/v1/slack/commands', fn: 'slack', publicBecause: 'Slack signs the request (verified in the function)' },
  { method: apigwv2.HttpMethod.POST, path: '/v1/slack/actions', fn: 'slack', publicBecause: 'Slack signs the request (verified in the function)' },
  { method: apigwv2.HttpMethod.GET, path: '/v1/slack/install', fn: 'slack', publicBecause: 'Slack OAuth install redirect (signed state)' },
  { method: apigwv2.HttpMethod.GET, path: '/v1/slack/oauth_redirect', fn: 'slack', publicBecause: 'Slack OAuth callback (signed state)' },
  { method: apigwv2.HttpMethod.POST, path: '/v1/stripe/webhook', fn: 'stripe', publicBecause: 'Stripe signs the webhook (verified in the function)' },
  { method: apigwv2.HttpMethod.POST, path: '/v1/drift-reports', fn: 'ingest', publicBecause: 'agents authenticate with an API key checked by hash in the function' },
  { method: apigwv2.HttpMethod.GET, path: '/v1/openapi.json', fn: 'api', publicBecause: 'public API description' },
  { method: apigwv2.HttpMethod.ANY, path: '/v1/{proxy+}', fn: 'api' },
];

export class Api extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly url: string;
  public readonly routes: Record<string, apigwv2.HttpRoute> = {};

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `${props.prefix}-api`,
      description: 'dd0c REST API, Slack, Stripe and drift-report routes',
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [props.dashboardUrl],
        allowMethods: [apigwv2.CorsHttpMethod.ANY],
        allowHeaders: ['authorization', 'content-type'],
        maxAge: Duration.hours(1),
      },
    });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit, burstLimit: props.burstLimit },
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            httpMethod: '$context.httpMethod',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
          }),
        ),
      },
    });
    this.url = this.stage.url;

    const authorizer = new HttpUserPoolAuthorizer('Cognito', props.userPool, {
      userPoolClients: [props.userPoolClient],
      identitySource: ['$request.header.Authorization'],
    });

    const integrations: Partial<Record<FunctionName, HttpLambdaIntegration>> = {};
    for (const r of API_ROUTES) {
      integrations[r.fn] ??= new HttpLambdaIntegration(`${r.fn}Integration`, props.functions[r.fn]);
      const [route] = this.httpApi.addRoutes({
        path: r.path,
        methods: [r.method],
        integration: integrations[r.fn]!,
        authorizer: r.publicBecause === undefined ? authorizer : undefined,
      });
      this.routes[`${r.method} ${r.path}`] = route;
    }
  }
}
