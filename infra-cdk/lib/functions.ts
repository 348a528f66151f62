import * as fs from 'fs';
import * as path from 'path';
import { RoutingTable } from './routing';

/** The nine Rust binaries; each is built by `make lambdas` into target/lambda/<name>/bootstrap. */
export const FUNCTION_NAMES = [
  'ingest',
  'normalizer',
  'scorer',
  'classifier',
  'notifier',
  'digest',
  'slack',
  'stripe',
  'api',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/**
 * What the cost meter must know of each function (`dd0c replay --cost`): memory, X-Ray tracing
 * and the level of Lambda's own platform log lines, in `shared/functions.json`.
 */
export interface FunctionSettings {
  readonly memory_mb: number;
  readonly tracing: 'active' | 'pass_through';
  readonly system_log_level: 'DEBUG' | 'INFO' | 'WARN';
}

export const FUNCTION_SETTINGS_FILE = path.resolve(__dirname, '..', '..', 'shared', 'functions.json');

/** The share of events traced by default (`trace_sample_percent`; decision 0710). */
export function defaultTraceSamplePercent(file: string = FUNCTION_SETTINGS_FILE): number {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { trace_sample_percent?: number };
  const percent = parsed.trace_sample_percent;
  if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
    throw new Error(`${file}: trace_sample_percent must be a number in 0..100`);
  }
  return percent;
}

export function loadFunctionSettings(file: string = FUNCTION_SETTINGS_FILE): Record<FunctionName, FunctionSettings> {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { functions?: Record<string, FunctionSettings> };
  const functions = parsed.functions ?? {};
  for (const name of FUNCTION_NAMES) {
    if (!functions[name]) throw new Error(`${file}: no settings for function "${name}"`);
  }
  for (const name of Object.keys(functions)) {
    if (!(FUNCTION_NAMES as readonly string[]).includes(name)) throw new Error(`${file}: unknown function "${name}"`);
  }
  return functions as Record<FunctionName, FunctionSettings>;
}

export interface FunctionSpec {
  readonly name: FunctionName;
  readonly description: string;
  readonly memoryMb: number;
  readonly tracing: FunctionSettings['tracing'];
  readonly systemLogLevel: FunctionSettings['system_log_level'];
  readonly timeoutSeconds: number;
  /**
   * Reserved concurrency: caps a function that talks to a rate-limited party.
   * notifier: Slack's chat.postMessage is ~1 message/s per channel;
   * digest: one run at a time so a slow run and the next tick never double-send a digest.
   */
  readonly reservedConcurrency?: number;
  /** Cap on concurrent invocations by an SQS event source (protects DynamoDB and Slack). */
  readonly sqsMaxConcurrency?: number;
}

/** Specs; a queue consumer's timeout is the routing table's `consumer_timeout_seconds`. */
export function functionSpecs(routing: RoutingTable): Record<FunctionName, FunctionSpec> {
  const settings = loadFunctionSettings();
  const deployed = (fn: FunctionName) => ({
    memoryMb: settings[fn].memory_mb,
    tracing: settings[fn].tracing,
    systemLogLevel: settings[fn].system_log_level,
  });
  const consumerTimeout = (fn: FunctionName, dflt: number): number =>
    routing.queues.find((q) => q.consumer === fn)?.consumer_timeout_seconds ?? dflt;
  return {
    ingest: {
      name: 'ingest',
      ...deployed('ingest'),
      description: 'CloudTrail events from the inbox stream, in batches, and POST /v1/drift-reports -> ingest.fifo',
      timeoutSeconds: routing.ingest_rule.inbox.consumer_timeout_seconds,
    },
    normalizer: {
      name: 'normalizer',
      ...deployed('normalizer'),
      description: 'ingest.fifo -> events in DynamoDB, domain events on the bus',
      timeoutSeconds: consumerTimeout('normalizer', 30),
      sqsMaxConcurrency: 20,
    },
    scorer: {
      name: 'scorer',
      ...deployed('scorer'),
      description: 'score.fifo -> cost anomaly findings',
      timeoutSeconds: consumerTimeout('scorer', 30),
      sqsMaxConcurrency: 20,
    },
    classifier: {
      name: 'classifier',
      ...deployed('classifier'),
      description: 'classify.fifo -> drift findings',
      timeoutSeconds: consumerTimeout('classifier', 30),
      sqsMaxConcurrency: 20,
    },
    notifier: {
      name: 'notifier',
      ...deployed('notifier'),
      description: 'alerts.fifo -> Slack now, or a digest hold',
      timeoutSeconds: consumerTimeout('notifier', 60),
      reservedConcurrency: 5,
      sqsMaxConcurrency: 5,
    },
    digest: {
      name: 'digest',
      ...deployed('digest'),
      description: 'hourly tick: daily digest at each tenant local hour, un-snooze, governance, purge, daily zombie scans queued',
      timeoutSeconds: 300,
      reservedConcurrency: 1,
    },
    slack: {
      name: 'slack',
      ...deployed('slack'),
      description: 'Slack slash commands, interactive actions, OAuth install; commands.fifo -> deferred answers',
      timeoutSeconds: consumerTimeout('slack', 10),
      // Deferred slash commands are short reads; Lambda's minimum keeps them from
      // crowding out the interactive requests the same function answers.
      sqsMaxConcurrency: 2,
    },
    stripe: {
      name: 'stripe',
      ...deployed('stripe'),
      description: 'Stripe webhook',
      timeoutSeconds: 10,
    },
    api: {
      name: 'api',
      ...deployed('api'),
      description: 'dashboard REST API, onboarding, billing; zombies.fifo -> daily zombie scans',
      // API Gateway's 29 s integration limit; also the zombies queue's consumer timeout.
      timeoutSeconds: consumerTimeout('api', 29),
      // Daily zombie scans (one account each, up to ~20 s) must not crowd out the dashboard's
      // requests: Lambda's minimum.
      sqsMaxConcurrency: 2,
    },
  };
}

export const PLACEHOLDER_ASSET_DIR = path.resolve(__dirname, '..', 'placeholder-asset');
export const DEFAULT_LAMBDA_ROOT = path.resolve(__dirname, '..', '..', 'target', 'lambda');

/**
 * The asset folder for a function: `target/lambda/<name>` when `make lambdas` produced a
 * bootstrap there, else the placeholder folder (synth and tests work on a fresh clone; a deploy
 * passes `-c deploy=true` so it can never ship the placeholder).
 */
export function assetDirFor(name: FunctionName, root = DEFAULT_LAMBDA_ROOT, requireBuilt = false): string {
  const dir = path.join(root, name);
  if (fs.existsSync(path.join(dir, 'bootstrap'))) return dir;
  if (requireBuilt) {
    throw new Error(
      `${path.join(dir, 'bootstrap')} is missing: run \`make lambdas\` (cargo lambda build --profile deploy --arm64) before deploying`,
    );
  }
  return PLACEHOLDER_ASSET_DIR;
}
