import * as fs from 'fs';
import * as path from 'path';
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { resolveConfig } from './config';
import { Dd0cStack } from './dd0c-stack';
import { HttpRouteTable, loadHttpRoutes } from './http-routes';
import { MetricsTable, loadMetrics } from './metrics';
import { acknowledgeNagFindings } from './nag';
import { RoutingTable, loadRouting } from './routing';

export interface BuildOptions {
  /** App context; tests pass cdk.json's context plus overrides. Default: what the CLI passes. */
  readonly context?: Record<string, unknown>;
  /** Routing table; default shared/routing.json. */
  readonly routing?: RoutingTable;
  /** HTTP route table; default shared/http-routes.json. */
  readonly httpRoutes?: HttpRouteTable;
  /** EMF metrics the dashboard draws; default shared/metrics.json. */
  readonly metrics?: MetricsTable;
  /** Register cdk-nag AwsSolutionsChecks as a synth-time validation plugin (default true). */
  readonly nag?: boolean;
  /** Apply the written cdk-nag acknowledgements (default true; tests turn them off). */
  readonly acknowledge?: boolean;
  readonly outdir?: string;
  readonly dashboardDir?: string;
  readonly templateDir?: string;
}

export function buildApp(opts: BuildOptions = {}): { app: App; stack: Dd0cStack } {
  const app = new App({ context: opts.context, outdir: opts.outdir });
  const config = resolveConfig(app.node);
  const routing = opts.routing ?? loadRouting();
  const httpRoutes = opts.httpRoutes ?? loadHttpRoutes();
  const metrics = opts.metrics ?? loadMetrics();
  const stack = new Dd0cStack(app, `dd0c-${config.envName}`, {
    config,
    routing,
    httpRoutes,
    metrics,
    dashboardDir: opts.dashboardDir,
    templateDir: opts.templateDir,
    env: config.account || config.region ? { account: config.account, region: config.region } : undefined,
    terminationProtection: config.envName === 'prod',
    description: `dd0c ${config.envName}: real-time AWS cost and drift watchdog`,
  });
  Tags.of(stack).add('project', 'dd0c');
  Tags.of(stack).add('environment', config.envName);
  if (opts.acknowledge ?? true) acknowledgeNagFindings(stack);
  if (opts.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, stack };
}

/** cdk.json's context, for tests that build the app without the CLI. */
export function cdkJsonContext(): Record<string, unknown> {
  const file = path.resolve(__dirname, '..', 'cdk.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')).context ?? {}) as Record<string, unknown>;
}
