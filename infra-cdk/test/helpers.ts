import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, cdkJsonContext } from '../lib/app';
import { Dd0cStack } from '../lib/dd0c-stack';
import { RoutingTable } from '../lib/routing';

// Tests are environment-agnostic and offline whatever the shell or CI runner exports.
delete process.env.CDK_DEFAULT_ACCOUNT;
delete process.env.CDK_DEFAULT_REGION;
delete process.env.GITHUB_REPOSITORY;

export const FIXTURES = path.join(__dirname, 'fixtures');

const outdirs: string[] = [];

/** A temporary cdk.out for one synth (about 23 MB), removed once the test file is done. */
export function tempOutdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd0c-cdk-test-'));
  outdirs.push(dir);
  return dir;
}

if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of outdirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
}
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** shared/routing.json, read here without the app's loader (the parity test must not share it). */
export function readRoutingJson(): RoutingTable {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'shared', 'routing.json'), 'utf8')) as RoutingTable;
}

export interface SynthOptions {
  readonly env?: 'staging' | 'prod';
  readonly context?: Record<string, unknown>;
  readonly routing?: RoutingTable;
  readonly nag?: boolean;
  /** Use the test fixtures for the dashboard and customer template (default true). */
  readonly fixtures?: boolean;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: Dd0cStack;
  readonly template: Template;
  /** The template as plain JSON. */
  readonly json: any;
}

const cache = new Map<string, Synthesized>();

/** Builds the app as `cdk synth` does (cdk.json context + overrides), offline, in a temp outdir. */
export function synth(opts: SynthOptions = {}): Synthesized {
  const key = JSON.stringify(opts);
  const hit = cache.get(key);
  if (hit) return hit;
  const context = {
    ...cdkJsonContext(),
    env: opts.env ?? 'staging',
    githubRepo: 'acme/dd0c',
    ...(opts.context ?? {}),
  };
  const fixtures = opts.fixtures ?? true;
  const { app, stack } = buildApp({
    context,
    routing: opts.routing,
    nag: opts.nag ?? false,
    outdir: tempOutdir(),
    dashboardDir: fixtures ? path.join(FIXTURES, 'dashboard') : undefined,
    templateDir: fixtures ? path.join(FIXTURES, 'customer-template') : path.join(FIXTURES, 'does-not-exist'),
  });
  const template = Template.fromStack(stack);
  const out = { app, stack, template, json: template.toJSON() };
  cache.set(key, out);
  return out;
}

/** Resources of one type, by logical id. */
export function resources(json: any, type: string): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [id, r] of Object.entries<any>(json.Resources ?? {})) {
    if (r.Type === type) out[id] = r;
  }
  return out;
}

export function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** One entry of shared/http-routes.json, as the parity test reads it (without the app's loader). */
export interface HttpRouteEntry {
  readonly method: string;
  readonly path: string;
  readonly function: string;
  readonly auth: string;
}

/** shared/http-routes.json, read here on its own so the parity test compares the file with the template. */
export function readHttpRoutesJson(): { auth_kinds: string[]; routes: HttpRouteEntry[] } {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'shared', 'http-routes.json'), 'utf8'));
}

/** shared/metrics.json, read here on its own so the parity test compares the file with the template. */
export function readMetricsJson(): {
  namespace: string;
  dimension: string;
  metrics: { name: string; unit: string; meaning: string; graph: string; label: string }[];
} {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'shared', 'metrics.json'), 'utf8'));
}
