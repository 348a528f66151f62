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
import { HttpRouteSpec, HttpRouteTable } from '../http-routes';
import { Throttle, publicRouteThrottles } from '../rate-limits';

export interface ApiProps {
  readonly prefix: string;
  readonly functions: Record<FunctionName, lambda.IFunction>;
  readonly userPool: cognito.IUserPool;
  readonly userPoolClient: cognito.IUserPoolClient;
  readonly dashboardUrl: string;
  /** shared/http-routes.json: one explicit route per entry. */
  readonly routeTable: HttpRouteTable;
  readonly rateLimit: number;
  readonly burstLimit: number;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class Api extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly url: string;
  /** By route key (`GET /v1/me`): the route and its entry of the route table. */
  public readonly routes: Record<string, { route: apigwv2.HttpRoute; spec: HttpRouteSpec }> = {};
  /** Per-route throttles of the public routes, by route key (lib/rate-limits.ts). */
  public readonly routeThrottles: Record<string, Throttle>;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `${props.prefix}-api`,
      description: 'dd0c REST API, Slack, Stripe and drift-report routes',
      createDefaultStage: false,
      // No route matches OPTIONS (every route names its method), so API Gateway answers browser
      // preflights from this configuration and they never reach an authorizer or a function.
      corsPreflight: {
        allowOrigins: [props.dashboardUrl],
        allowMethods: corsMethods(props.routeTable),
        // authorization: Cognito ID token; x-api-key: agent API keys; content-type: JSON bodies.
        allowHeaders: ['authorization', 'content-type', 'x-api-key'],
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

    // One route per entry of the route table; the JWT authorizer only where the table says
    // `cognito` (the other kinds are authenticated by the function: lib/http-routes.ts).
    const integrations: Partial<Record<FunctionName, HttpLambdaIntegration>> = {};
    for (const r of props.routeTable.routes) {
      integrations[r.function] ??= new HttpLambdaIntegration(`${r.function}Integration`, props.functions[r.function]);
      const [route] = this.httpApi.addRoutes({
        path: r.path,
        methods: [apigwv2.HttpMethod[r.method]],
        integration: integrations[r.function]!,
        authorizer: r.auth === 'cognito' ? authorizer : undefined,
      });
      this.routes[`${r.method} ${r.path}`] = { route, spec: r };
    }

    // Per-route throttles of the public routes (Slack, Stripe, drift reports, the API
    // description...), derived from the route table's auth kinds; every other route keeps the
    // stage default. API Gateway rejects RouteSettings naming a route that does not exist yet,
    // so the stage waits for those routes.
    this.routeThrottles = publicRouteThrottles(props.routeTable, { rateLimit: props.rateLimit, burstLimit: props.burstLimit });
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    // RouteSettings is a JSON property: CDK passes it through as written, so the keys are
    // CloudFormation's (PascalCase), like DefaultRouteSettings'.
    cfnStage.routeSettings = Object.fromEntries(
      Object.entries(this.routeThrottles).map(([key, t]) => [
        key,
        { ThrottlingRateLimit: t.rateLimit, ThrottlingBurstLimit: t.burstLimit, DetailedMetricsEnabled: true },
      ]),
    );
    for (const key of Object.keys(this.routeThrottles)) {
      cfnStage.addDependency(this.routes[key].route.node.defaultChild as apigwv2.CfnRoute);
    }
  }
}

/** The methods the routes use, for the CORS configuration (never `*`). */
export function corsMethods(table: HttpRouteTable): apigwv2.CorsHttpMethod[] {
  return [...new Set(table.routes.map((r) => r.method))].sort().map((m) => apigwv2.CorsHttpMethod[m]);
}
