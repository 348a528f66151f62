import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Match } from 'aws-cdk-lib/assertions';
import { FUNCTION_NAMES, defaultTraceSamplePercent, loadFunctionSettings } from '../lib/functions';
import { functionProblems, mappingProblems, queueProblems } from './checks';
import { clone, readRoutingJson, REPO_ROOT, resources, synth } from './helpers';

const routing = readRoutingJson();

describe('queues', () => {
  const { json, template } = synth();

  test('every routing queue is FIFO with a FIFO DLQ, maxReceiveCount 5, visibility >= 6x consumer timeout', () => {
    expect(queueProblems(routing, json)).toEqual([]);
    expect(routing.max_receive_count).toBe(5);
  });

  test('every queue and DLQ deduplicates by explicit id only (content-based dedup off)', () => {
    for (const q of routing.queues) {
      template.hasResourceProperties('AWS::SQS::Queue', { QueueName: `dd0c-staging-${q.name}.fifo`, ContentBasedDeduplication: false });
    }
    for (const q of routing.queues) {
      template.hasResourceProperties('AWS::SQS::Queue', { QueueName: `dd0c-staging-${q.name}-dlq.fifo`, ContentBasedDeduplication: false });
    }
    const broken = clone(json);
    const ingest = Object.values<any>(resources(broken, 'AWS::SQS::Queue')).find((q) => q.Properties.QueueName === 'dd0c-staging-ingest.fifo');
    ingest.Properties.ContentBasedDeduplication = true;
    expect(queueProblems(routing, broken)).toEqual(['dd0c-staging-ingest.fifo: content-based deduplication must be off (explicit dedup ids)']);
  });

  test('queue names follow <prefix>-<name>.fifo and <prefix>-<name>-dlq.fifo', () => {
    for (const q of routing.queues) {
      template.hasResourceProperties('AWS::SQS::Queue', { QueueName: `dd0c-staging-${q.name}.fifo`, FifoQueue: true });
      template.hasResourceProperties('AWS::SQS::Queue', { QueueName: `dd0c-staging-${q.name}-dlq.fifo`, FifoQueue: true });
    }
  });

  test('queues are encrypted and refuse plain HTTP', () => {
    for (const q of Object.values<any>(resources(json, 'AWS::SQS::Queue'))) {
      expect(q.Properties.SqsManagedSseEnabled).toBe(true);
    }
    const policies = Object.values<any>(resources(json, 'AWS::SQS::QueuePolicy'));
    const queues = Object.keys(resources(json, 'AWS::SQS::Queue'));
    for (const id of queues) {
      const denies = policies.filter(
        (p) =>
          JSON.stringify(p.Properties.Queues).includes(`"${id}"`) &&
          p.Properties.PolicyDocument.Statement.some((s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
      );
      expect({ id, denies: denies.length }).toEqual({ id, denies: 1 });
    }
  });

  test.each([
    ['visibility below 6x timeout', (q: any) => (q.Properties.VisibilityTimeout = 60), /visibility 60s < 6 x consumer timeout/],
    ['content-based dedup on', (q: any) => (q.Properties.ContentBasedDeduplication = true), /content-based deduplication must be off/],
    ['no DLQ', (q: any) => delete q.Properties.RedrivePolicy, /no DLQ/],
    ['maxReceiveCount 3', (q: any) => (q.Properties.RedrivePolicy.maxReceiveCount = 3), /maxReceiveCount 3, want 5/],
    ['not FIFO', (q: any) => (q.Properties.FifoQueue = false), /not FIFO/],
  ])('the queue check fails on %s', (_name, mutate, expected) => {
    const broken = clone(json);
    const queue = Object.values<any>(resources(broken, 'AWS::SQS::Queue')).find(
      (q) => q.Properties.QueueName === 'dd0c-staging-score.fifo',
    );
    mutate(queue);
    expect(queueProblems(routing, broken).join('\n')).toMatch(expected);
  });
});

describe('functions', () => {
  const { json, template } = synth();

  test('the nine functions are arm64 provided.al2023 with bootstrap, explicit memory/timeout, tracing, JSON logs', () => {
    expect(functionProblems(json, FUNCTION_NAMES)).toEqual([]);
    expect(FUNCTION_NAMES).toHaveLength(9);
  });

  test('each function is deployed with the memory, tracing and platform log level of shared/functions.json', () => {
    const settings = loadFunctionSettings();
    const changed = { ...settings, scorer: { ...settings.scorer, memory_mb: settings.scorer.memory_mb * 2, tracing: 'active' as const } };
    const problems = functionProblems(json, FUNCTION_NAMES, changed);
    expect(problems).toContain(`dd0c-staging-scorer: memory ${settings.scorer.memory_mb}, functions.json ${settings.scorer.memory_mb * 2}`);
    expect(problems.filter((p) => p.startsWith('dd0c-staging-scorer: tracing'))).toHaveLength(settings.scorer.tracing === 'active' ? 0 : 1);
    expect(() => loadFunctionSettings(path.join(REPO_ROOT, 'shared', 'routing.json'))).toThrow(/no settings for function "ingest"/);
  });

  test('the function check fails on x86_64 or another runtime', () => {
    const broken = clone(json);
    const fn = Object.values<any>(resources(broken, 'AWS::Lambda::Function')).find((f) => f.Properties.FunctionName === 'dd0c-staging-api');
    fn.Properties.Architectures = ['x86_64'];
    fn.Properties.Runtime = 'provided.al2';
    expect(functionProblems(broken, FUNCTION_NAMES)).toEqual([
      'dd0c-staging-api: runtime provided.al2',
      'dd0c-staging-api: architectures ["x86_64"]',
    ]);
  });

  test('every SQS event-source mapping reports batch item failures', () => {
    expect(mappingProblems(json)).toEqual([]);
    // One per queue, and the ingest inbox stream's.
    expect(Object.keys(resources(json, 'AWS::Lambda::EventSourceMapping'))).toHaveLength(routing.queues.length + 1);
    const broken = clone(json);
    delete Object.values<any>(resources(broken, 'AWS::Lambda::EventSourceMapping'))[1].Properties.FunctionResponseTypes;
    expect(mappingProblems(broken)).toHaveLength(1);
  });

  const envOf = (name: string): Record<string, unknown> => {
    const fn = Object.values<any>(resources(json, 'AWS::Lambda::Function')).find((f) => f.Properties.FunctionName === `dd0c-staging-${name}`);
    return fn.Properties.Environment.Variables;
  };

  test('every function gets the table, the environment and RUST_LOG', () => {
    for (const name of FUNCTION_NAMES) {
      expect(Object.keys(envOf(name))).toEqual(expect.arrayContaining(['TABLE_NAME', 'DD0C_ENV', 'RUST_LOG']));
      expect(envOf(name).DD0C_ENV).toBe('staging');
    }
  });

  test('each consumer gets the URL of the queue it consumes and of its DLQ', () => {
    const queues = resources(json, 'AWS::SQS::Queue');
    const idOf = (name: string) => Object.keys(queues).find((id) => queues[id].Properties.QueueName === name);
    for (const q of routing.queues) {
      const env = envOf(q.consumer);
      expect(env[`QUEUE_URL_${q.name.toUpperCase()}`]).toEqual({ Ref: idOf(`dd0c-staging-${q.name}.fifo`) });
      expect(env[`DLQ_URL_${q.name.toUpperCase()}`]).toEqual({ Ref: idOf(`dd0c-staging-${q.name}-dlq.fifo`) });
    }
    const ingestEnv = envOf(routing.ingest_rule.function);
    expect(ingestEnv.QUEUE_URL_INGEST).toEqual({ Ref: idOf('dd0c-staging-ingest.fifo') });
    expect(ingestEnv.DLQ_URL_INGEST).toEqual({ Ref: idOf('dd0c-staging-ingest-dlq.fifo') });
  });

  test('every function gets the environment shared/function-env.json promises (what its loader reads)', () => {
    const contract = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'shared', 'function-env.json'), 'utf8'));
    expect(Object.keys(contract.functions).sort()).toEqual([...FUNCTION_NAMES].sort());
    for (const name of FUNCTION_NAMES) {
      const missing = [...contract.common, ...contract.functions[name]].filter((v: string) => !(v in envOf(name)));
      expect({ fn: name, missing }).toEqual({ fn: name, missing: [] });
    }
    expect(envOf('api').DD0C_ACCOUNT_ID).toEqual({ Ref: 'AWS::AccountId' });
  });

  test('secret readers carry the Parameters and Secrets extension layer (per-region mapping); every function the OTel collector', () => {
    const fns = Object.values<any>(resources(json, 'AWS::Lambda::Function')).filter((f) =>
      String(f.Properties.FunctionName).startsWith('dd0c-staging-'),
    );
    for (const f of fns) {
      const env = f.Properties.Environment.Variables;
      const readsSecret = 'SLACK_SECRET_ARN' in env || 'STRIPE_SECRET_ARN' in env;
      const layers = f.Properties.Layers ?? [];
      expect({ fn: f.Properties.FunctionName, layer: layers.length }).toEqual({
        fn: f.Properties.FunctionName,
        layer: readsSecret ? 2 : 1,
      });
      expect(JSON.stringify(layers)).toContain('aws-otel-collector-arm64-ver-');
      // Spans go to the collector beside the function; 1% of events by default.
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://localhost:4318');
      expect(env.DD0C_TRACE_SAMPLE_PERCENT).toBe(String(defaultTraceSamplePercent()));
    }
    expect(JSON.stringify(json.Mappings ?? {})).toContain('AWS-Parameters-and-Secrets-Lambda-Extension-Arm64');
  });

  test('reserved concurrency caps the Slack sender and the digest; event sources cap concurrency too', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'dd0c-staging-notifier', ReservedConcurrentExecutions: 5 });
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'dd0c-staging-digest', ReservedConcurrentExecutions: 1 });
    // A queue's mapping caps its concurrency; a stream's reads one batch per shard at a time.
    for (const m of Object.values<any>(resources(json, 'AWS::Lambda::EventSourceMapping'))) {
      if (m.Properties.StartingPosition) expect(m.Properties.ParallelizationFactor).toBe(1);
      else expect(m.Properties.ScalingConfig?.MaximumConcurrency).toBeGreaterThanOrEqual(2);
    }
  });

  test('the daily zombie scans reach the API function one account at a time, two at once, within its 29 s', () => {
    const apiId = Object.entries<any>(resources(json, 'AWS::Lambda::Function')).find(
      ([, f]) => f.Properties.FunctionName === 'dd0c-staging-api',
    )![0];
    const mappings = Object.values<any>(resources(json, 'AWS::Lambda::EventSourceMapping')).filter(
      (m) => m.Properties.FunctionName?.Ref === apiId,
    );
    expect(mappings.map((m) => m.Properties.EventSourceArn['Fn::GetAtt'][0])).toEqual([
      expect.stringMatching(/^PipelineZombiesQueue/),
    ]);
    expect(mappings[0].Properties.BatchSize).toBe(1);
    expect(mappings[0].Properties.ScalingConfig.MaximumConcurrency).toBe(2);
    template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'dd0c-staging-api', Timeout: 29 });
  });

  test('functions write logs only to their own log group, and read the table by name and index', () => {
    const roles = resources(json, 'AWS::IAM::Role');
    const fns = Object.values<any>(resources(json, 'AWS::Lambda::Function')).filter((f) =>
      String(f.Properties.FunctionName).startsWith('dd0c-staging-'),
    );
    for (const f of fns) {
      const role = roles[f.Properties.Role['Fn::GetAtt'][0]];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    const policies = JSON.stringify(resources(json, 'AWS::IAM::Policy'));
    expect(policies).not.toMatch(/\/index\/\*/);
    expect(policies).toContain('/index/GSI1');
    expect(policies).toContain('/index/GSI2');
  });

  test('the digest runs hourly (UTC) through EventBridge Scheduler with a DLQ', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 * * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('PipelineDigestFunction'), 'Arn'] },
        DeadLetterConfig: Match.anyValue(),
      }),
    });
  });

  test('rule targets have a DLQ and retries', () => {
    for (const rule of Object.values<any>(resources(json, 'AWS::Events::Rule'))) {
      for (const t of rule.Properties.Targets) {
        expect(t.DeadLetterConfig).toBeDefined();
        expect(t.RetryPolicy).toBeDefined();
      }
    }
  });
});

describe('lambda assets', () => {
  test('functions use target/lambda/<name> when make lambdas built it', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dd0c-lambda-'));
    for (const name of FUNCTION_NAMES) {
      fs.mkdirSync(path.join(root, name));
      fs.writeFileSync(path.join(root, name, 'bootstrap'), `#!/bin/sh\necho ${name}\n`);
    }
    const built = synth({ context: { deploy: true, lambdaAssetRoot: root } });
    const placeholder = synth();
    const keys = (json: any) =>
      new Set(
        Object.values<any>(resources(json, 'AWS::Lambda::Function'))
          .filter((f) => String(f.Properties.FunctionName).startsWith('dd0c-staging-'))
          .map((f) => f.Properties.Code.S3Key),
      );
    expect(keys(built.json).size).toBe(FUNCTION_NAMES.length); // one asset per binary
    expect(keys(placeholder.json).size).toBe(1); // the shared placeholder
  });

  test('a deploy synth refuses the placeholder asset', () => {
    expect(() => synth({ context: { deploy: true, lambdaAssetRoot: '/nonexistent/target/lambda' } })).toThrow(
      /make lambdas/,
    );
  });
});
