/**
 * Checks over a synthesized CloudFormation template (plain JSON). Each returns the list of
 * problems it found, so a test asserts `[]` on the real template and a non-empty list on a
 * broken one: every check is shown to be able to fail.
 */
import { FunctionSettings, loadFunctionSettings } from '../lib/functions';
import { RoutingTable } from '../lib/routing';
import { resources } from './helpers';

type Json = any;

function getAttTarget(v: Json): string | undefined {
  if (v && typeof v === 'object' && Array.isArray(v['Fn::GetAtt'])) return v['Fn::GetAtt'][0];
  return undefined;
}

function refTarget(v: Json): string | undefined {
  if (v && typeof v === 'object' && typeof v.Ref === 'string') return v.Ref;
  return getAttTarget(v);
}

/** The routing seen in a template: rules, who may send to which queue, and the SQS event-source mappings. */
export interface TemplateRouting {
  /** detail-type -> queues a rule delivers it to (internal events have no rule: their producers send) */
  readonly routes: Map<string, { source: string[]; queue: string; rule: string }[]>;
  /** detail-type -> functions targeted directly by a rule */
  readonly functionRules: Map<string, { function: string; rule: string; source?: string[] }[]>;
  /** queue name -> functions allowed to send to it, and whether each has its URL in its environment */
  readonly senders: Map<string, { function: string; hasUrl: boolean }[]>;
  /** queue name -> event-source mappings */
  readonly mappings: Map<string, { function: string; batchSize?: number; responseTypes: string[] }[]>;
}

const asList = (v: Json): Json[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

export function extractRouting(json: Json): TemplateRouting {
  const queues = resources(json, 'AWS::SQS::Queue');
  const functions = resources(json, 'AWS::Lambda::Function');
  const queueName = (logicalId: string | undefined): string =>
    logicalId && queues[logicalId] ? String(queues[logicalId].Properties.QueueName) : `<not a queue: ${logicalId}>`;
  const functionName = (logicalId: string | undefined): string =>
    logicalId && functions[logicalId] ? String(functions[logicalId].Properties.FunctionName) : `<not a function: ${logicalId}>`;

  const routes: TemplateRouting['routes'] = new Map();
  const functionRules: TemplateRouting['functionRules'] = new Map();
  for (const [ruleId, rule] of Object.entries<Json>(resources(json, 'AWS::Events::Rule'))) {
    const pattern = rule.Properties.EventPattern ?? {};
    const detailTypes: string[] = pattern['detail-type'] ?? [];
    const source: string[] | undefined = pattern.source;
    for (const target of rule.Properties.Targets ?? []) {
      const arnOf = getAttTarget(target.Arn);
      for (const dt of detailTypes) {
        if (arnOf && queues[arnOf]) {
          const list = routes.get(dt) ?? [];
          list.push({ source: source ?? [], queue: queueName(arnOf), rule: ruleId });
          routes.set(dt, list);
        } else if (arnOf && functions[arnOf]) {
          const list = functionRules.get(dt) ?? [];
          list.push({ function: functionName(arnOf), rule: ruleId, source });
          functionRules.set(dt, list);
        }
      }
    }
  }

  // Send rights: the IAM policies attached to each function's role.
  const roleOf = new Map<string, string>();
  for (const [id, fn] of Object.entries<Json>(functions)) {
    const role = getAttTarget(fn.Properties.Role);
    if (role) roleOf.set(role, id);
  }
  const senders: TemplateRouting['senders'] = new Map();
  for (const policy of Object.values<Json>(resources(json, 'AWS::IAM::Policy'))) {
    for (const role of asList(policy.Properties.Roles)) {
      const fnId = roleOf.get(refTarget(role) ?? '');
      if (!fnId) continue;
      for (const st of asList(policy.Properties.PolicyDocument?.Statement)) {
        if (st.Effect !== 'Allow' || !asList(st.Action).includes('sqs:SendMessage')) continue;
        for (const res of asList(st.Resource)) {
          const qId = getAttTarget(res);
          if (!qId || !queues[qId]) continue;
          const name = queueName(qId);
          const env = functions[fnId].Properties.Environment?.Variables ?? {};
          const hasUrl = Object.values<Json>(env).some((v) => refTarget(v) === qId);
          const list = senders.get(name) ?? [];
          list.push({ function: functionName(fnId), hasUrl });
          senders.set(name, list);
        }
      }
    }
  }

  const mappings: TemplateRouting['mappings'] = new Map();
  for (const esm of Object.values<Json>(resources(json, 'AWS::Lambda::EventSourceMapping'))) {
    const q = queueName(getAttTarget(esm.Properties.EventSourceArn));
    const list = mappings.get(q) ?? [];
    list.push({
      function: functionName(refTarget(esm.Properties.FunctionName)),
      batchSize: esm.Properties.BatchSize,
      responseTypes: esm.Properties.FunctionResponseTypes ?? [],
    });
    mappings.set(q, list);
  }
  return { routes, functionRules, senders, mappings };
}

const isQueue = (physical: string, name: string): boolean => physical.endsWith(`-${name}.fifo`);
const isFunction = (physical: string, name: string): boolean => physical.endsWith(`-${name}`);

/**
 * Routing parity: every producer of a detail-type may send to the queue the Rust router sends
 * it to and has that queue's URL; nothing else may send to an internal queue; no rule delivers
 * to a queue (a rule's static message group would put every tenant in one line); the ingest
 * rule reaches the ingest function; and each queue is consumed by its consumer.
 */
export function routingParityProblems(routing: RoutingTable, json: Json): string[] {
  const problems: string[] = [];
  const found = extractRouting(json);
  const sendersOf = (queue: string) =>
    [...found.senders.entries()].filter(([name]) => isQueue(name, queue)).flatMap(([, s]) => s);

  for (const r of routing.routes) {
    for (const producer of r.producers) {
      const grant = sendersOf(r.queue).filter((s) => isFunction(s.function, producer));
      if (grant.length === 0) {
        problems.push(`${r.detail_type}: ${producer} sends it to ${r.queue} in shared/routing.json, but may not send to ${r.queue}.fifo in the template`);
      } else if (!grant.some((s) => s.hasUrl)) {
        problems.push(`${r.detail_type}: ${producer} may send to ${r.queue}.fifo but has no URL of it in its environment`);
      }
    }
  }
  for (const q of routing.queues) {
    const allowed = new Set(routing.routes.filter((r) => r.queue === q.name).flatMap((r) => r.producers));
    if (routing.ingest_rule.queue === q.name) allowed.add(routing.ingest_rule.function);
    for (const s of sendersOf(q.name)) {
      if (![...allowed].some((name) => isFunction(s.function, name))) {
        problems.push(`${q.name}.fifo: ${s.function} may send to it, but shared/routing.json routes nothing from it there`);
      }
    }
  }
  const ingest = routing.ingest_rule;
  for (const [dt, hits] of found.routes) {
    for (const h of hits) problems.push(`${dt}: a rule (${h.rule}) delivers it to ${h.queue}: internal events are sent by their producers`);
  }
  // The ingest rule puts CloudTrail events on the inbox stream, which the ingest function drains
  // (decision 1060).
  const streams = resources(json, 'AWS::Kinesis::Stream');
  const inboxId = Object.keys(streams).find((id) => String(streams[id].Properties.Name).endsWith(`-${ingest.inbox.name}`));
  const ruleTargets = Object.entries<Json>(resources(json, 'AWS::Events::Rule'))
    .filter(([, r]) => (r.Properties.EventPattern?.['detail-type'] ?? []).includes(ingest.detail_type))
    .flatMap(([id, r]) => (r.Properties.Targets ?? []).map((t: Json) => ({ rule: id, target: t })));
  if (!inboxId || !ruleTargets.some((t) => getAttTarget(t.target.Arn) === inboxId && t.target.KinesisParameters?.PartitionKeyPath === '$.account')) {
    problems.push(`${ingest.detail_type}: no rule puts it on the ${ingest.inbox.name} stream, partitioned by account`);
  }
  for (const h of found.functionRules.get(ingest.detail_type) ?? []) {
    problems.push(`${ingest.detail_type}: a rule (${h.rule}) invokes ${h.function} once per event; it goes to the ${ingest.inbox.name} stream`);
  }
  const inboxMaps = Object.values<Json>(resources(json, 'AWS::Lambda::EventSourceMapping')).filter(
    (m) => inboxId !== undefined && getAttTarget(m.Properties.EventSourceArn) === inboxId,
  );
  const fns = resources(json, 'AWS::Lambda::Function');
  const consumer = (m: Json) => String(fns[refTarget(m.Properties.FunctionName) ?? '']?.Properties.FunctionName ?? '');
  if (inboxMaps.length !== 1 || !isFunction(consumer(inboxMaps[0]), ingest.function)) {
    problems.push(`${ingest.inbox.name}: want exactly one event-source mapping, to ${ingest.function}`);
  } else if (inboxMaps[0].Properties.BatchSize !== ingest.inbox.batch_size) {
    problems.push(`${ingest.inbox.name}: batch size ${inboxMaps[0].Properties.BatchSize}, want ${ingest.inbox.batch_size}`);
  }

  for (const q of routing.queues) {
    const maps = [...found.mappings.entries()].filter(([name]) => isQueue(name, q.name)).flatMap(([, m]) => m);
    if (maps.length !== 1) {
      problems.push(`${q.name}.fifo: ${maps.length} event-source mappings (want exactly 1, to ${q.consumer})`);
      continue;
    }
    const m = maps[0];
    if (!isFunction(m.function, q.consumer)) problems.push(`${q.name}.fifo: consumed by ${m.function}, want ${q.consumer}`);
    if (m.batchSize !== q.batch_size) problems.push(`${q.name}.fifo: batch size ${m.batchSize}, want ${q.batch_size}`);
  }
  return problems;
}

/** FIFO queues with FIFO DLQs, maxReceiveCount, visibility >= 6x consumer timeout, no content dedup. */
export function queueProblems(routing: RoutingTable, json: Json): string[] {
  const problems: string[] = [];
  const queues = resources(json, 'AWS::SQS::Queue');
  const functions = resources(json, 'AWS::Lambda::Function');
  const byName = new Map<string, [string, Json]>();
  for (const [id, q] of Object.entries<Json>(queues)) byName.set(String(q.Properties.QueueName), [id, q]);
  const found = extractRouting(json);

  for (const rq of routing.queues) {
    const main = [...byName.entries()].find(([n]) => isQueue(n, rq.name) && !n.endsWith('-dlq.fifo'));
    if (!main) {
      problems.push(`${rq.name}: no <prefix>-${rq.name}.fifo queue`);
      continue;
    }
    const [name, [, q]] = main;
    const p = q.Properties;
    if (p.FifoQueue !== true) problems.push(`${name}: not FIFO`);
    // Every sender gives a deduplication id: ingest the CloudTrail eventID, the bus a hash of the event.
    if (p.ContentBasedDeduplication !== false) problems.push(`${name}: content-based deduplication must be off (explicit dedup ids)`);
    const redrive = p.RedrivePolicy;
    if (!redrive) {
      problems.push(`${name}: no DLQ`);
    } else {
      if (redrive.maxReceiveCount !== routing.max_receive_count) {
        problems.push(`${name}: maxReceiveCount ${redrive.maxReceiveCount}, want ${routing.max_receive_count}`);
      }
      const dlqId = getAttTarget(redrive.deadLetterTargetArn);
      const dlq = dlqId ? queues[dlqId] : undefined;
      if (!dlq) problems.push(`${name}: DLQ is not a queue of this stack`);
      else {
        if (dlq.Properties.FifoQueue !== true) problems.push(`${name}: DLQ is not FIFO`);
        if (!String(dlq.Properties.QueueName).endsWith(`-${rq.name}-dlq.fifo`)) {
          problems.push(`${name}: DLQ named ${dlq.Properties.QueueName}, want <prefix>-${rq.name}-dlq.fifo`);
        }
        if (dlq.Properties.ContentBasedDeduplication !== false) problems.push(`${name}: DLQ content-based deduplication must be off`);
      }
    }
    // Visibility against the consumer's real timeout in the template.
    const consumer = (found.mappings.get(name) ?? [])[0]?.function;
    const fn = Object.values<Json>(functions).find((f) => f.Properties.FunctionName === consumer);
    const timeout = fn?.Properties.Timeout;
    if (typeof timeout !== 'number') problems.push(`${name}: consumer has no explicit timeout`);
    else if (!(p.VisibilityTimeout >= 6 * timeout)) {
      problems.push(`${name}: visibility ${p.VisibilityTimeout}s < 6 x consumer timeout ${timeout}s`);
    }
    if (typeof timeout === 'number' && timeout !== rq.consumer_timeout_seconds) {
      problems.push(`${name}: consumer timeout ${timeout}s, shared/routing.json says ${rq.consumer_timeout_seconds}s`);
    }
  }
  for (const [name, [, q]] of byName) {
    if (name.endsWith('.fifo') && q.Properties.FifoQueue !== true) problems.push(`${name}: .fifo name on a standard queue`);
  }
  return problems;
}

/**
 * Every Lambda function of ours: arm64, provided.al2023, bootstrap, explicit timeout, JSON logs,
 * and the memory, tracing and platform log level `shared/functions.json` gives the cost meter.
 */
export function functionProblems(
  json: Json,
  expectedNames: readonly string[],
  settings: Record<string, FunctionSettings> = loadFunctionSettings(),
): string[] {
  const problems: string[] = [];
  const fns = Object.values<Json>(resources(json, 'AWS::Lambda::Function')).filter((f) =>
    String(f.Properties.FunctionName ?? '').startsWith('dd0c-'),
  );
  for (const name of expectedNames) {
    if (!fns.some((f) => isFunction(f.Properties.FunctionName, name))) problems.push(`${name}: function missing`);
  }
  for (const f of fns) {
    const p = f.Properties;
    const n = p.FunctionName;
    if (p.Runtime !== 'provided.al2023') problems.push(`${n}: runtime ${p.Runtime}`);
    if (JSON.stringify(p.Architectures) !== JSON.stringify(['arm64'])) problems.push(`${n}: architectures ${JSON.stringify(p.Architectures)}`);
    if (p.Handler !== 'bootstrap') problems.push(`${n}: handler ${p.Handler}`);
    if (typeof p.Timeout !== 'number') problems.push(`${n}: no explicit timeout`);
    if (p.LoggingConfig?.LogFormat !== 'JSON') problems.push(`${n}: log format not JSON`);
    const name = expectedNames.find((e) => isFunction(n, e));
    const wanted = name ? settings[name] : undefined;
    if (!wanted) {
      problems.push(`${n}: not in shared/functions.json`);
      continue;
    }
    if (p.MemorySize !== wanted.memory_mb) problems.push(`${n}: memory ${p.MemorySize}, functions.json ${wanted.memory_mb}`);
    const tracing = wanted.tracing === 'active' ? 'Active' : 'PassThrough';
    if (p.TracingConfig?.Mode !== tracing) problems.push(`${n}: tracing ${p.TracingConfig?.Mode}, functions.json ${tracing}`);
    const systemLevel = p.LoggingConfig?.SystemLogLevel ?? 'INFO';
    if (systemLevel !== wanted.system_log_level) {
      problems.push(`${n}: system log level ${systemLevel}, functions.json ${wanted.system_log_level}`);
    }
  }
  return problems;
}

/** Every SQS event-source mapping reports partial batch failures. */
export function mappingProblems(json: Json): string[] {
  const problems: string[] = [];
  const esms = resources(json, 'AWS::Lambda::EventSourceMapping');
  if (Object.keys(esms).length === 0) problems.push('no event-source mappings');
  for (const [id, m] of Object.entries<Json>(esms)) {
    if (!(m.Properties.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures')) {
      problems.push(`${id}: no ReportBatchItemFailures`);
    }
  }
  return problems;
}

/** `{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::1:root"]]}` -> `arn:aws:iam::1:root`. */
export function joinPartition(v: Json): Json {
  const join = v && typeof v === 'object' ? v['Fn::Join'] : undefined;
  if (!Array.isArray(join)) return v;
  const parts = (join[1] as Json[]).map((x) => (x && x.Ref === 'AWS::Partition' ? 'aws' : x));
  return parts.every((x) => typeof x === 'string') ? parts.join(join[0]) : v;
}

/**
 * The bus policy (docs/decisions/0810-open-bus-onboarding.md): any account may PutEvents, but
 * every Allow statement is limited to forwarded CloudTrail API-call events from AWS sources
 * (`events:detail-type` = "AWS API Call via CloudTrail" and `events:source` like `aws.*`, which
 * PutEvents cannot forge); named principals are account roots.
 */
export function busPolicyProblems(json: Json): string[] {
  const problems: string[] = [];
  const statements: Json[] = [];
  for (const p of Object.values<Json>(resources(json, 'AWS::Events::EventBusPolicy'))) {
    if (p.Properties.Statement) statements.push(p.Properties.Statement);
    if (p.Properties.Principal) {
      // The legacy Principal/Action form cannot carry our conditions.
      problems.push(`bus policy ${p.Properties.StatementId ?? ''}: legacy Principal form without event conditions`);
    }
  }
  for (const bus of Object.values<Json>(resources(json, 'AWS::Events::EventBus'))) {
    const policy = bus.Properties.Policy;
    if (policy) statements.push(...(policy.Statement ?? []));
  }
  for (const s of statements) {
    if (s.Effect !== 'Allow') continue;
    const sid = s.Sid ?? '';
    const actions = [s.Action].flat();
    if (actions.some((a: Json) => a !== 'events:PutEvents')) problems.push(`bus policy statement ${sid}: allows ${JSON.stringify(s.Action)}`);
    const detailType = s.Condition?.StringEquals?.['events:detail-type'];
    if (detailType !== 'AWS API Call via CloudTrail') {
      problems.push(`bus policy statement ${sid}: no events:detail-type = "AWS API Call via CloudTrail" condition`);
    }
    const source = s.Condition?.StringLike?.['events:source'];
    if (source !== 'aws.*') problems.push(`bus policy statement ${sid}: no events:source like "aws.*" condition`);
    const principals = [s.Principal?.AWS ?? s.Principal].flat();
    for (const raw of principals) {
      const p = joinPartition(raw);
      if (p === '*') continue;
      if (typeof p !== 'string' || !/^arn:aws[a-z-]*:iam::\d{12}:root$/.test(p)) {
        problems.push(`bus policy statement ${sid}: unexpected principal ${JSON.stringify(p)}`);
      }
    }
  }
  return problems;
}

/** The HTTP API as the template declares it: route key -> function name and authorization type. */
export interface TemplateHttpRoute {
  readonly routeKey: string;
  readonly logicalId: string;
  /** Physical name of the Lambda function behind the route's integration. */
  readonly function: string;
  readonly authorizationType: string;
  readonly authorizerType?: string;
}

export function extractHttpRoutes(json: Json): TemplateHttpRoute[] {
  const functions = resources(json, 'AWS::Lambda::Function');
  const integrations = resources(json, 'AWS::ApiGatewayV2::Integration');
  const authorizers = resources(json, 'AWS::ApiGatewayV2::Authorizer');
  const out: TemplateHttpRoute[] = [];
  for (const [id, r] of Object.entries<Json>(resources(json, 'AWS::ApiGatewayV2::Route'))) {
    const p = r.Properties;
    // Target: {"Fn::Join": ["", ["integrations/", {"Ref": <integration>}]]}
    const targetParts: Json[] = p.Target?.['Fn::Join']?.[1] ?? [];
    const integrationId = targetParts.map(refTarget).find((x) => x !== undefined);
    const integration = integrationId ? integrations[integrationId] : undefined;
    const fnId = integration ? getAttTarget(integration.Properties.IntegrationUri) : undefined;
    const fn = fnId ? functions[fnId] : undefined;
    const authorizerId = refTarget(p.AuthorizerId);
    out.push({
      routeKey: String(p.RouteKey),
      logicalId: id,
      function: fn ? String(fn.Properties.FunctionName) : `<no function: ${JSON.stringify(p.Target)}>`,
      authorizationType: p.AuthorizationType ?? 'NONE',
      authorizerType: authorizerId ? authorizers[authorizerId]?.Properties.AuthorizerType : undefined,
    });
  }
  return out;
}

/**
 * HTTP route parity: every entry of shared/http-routes.json is exactly one route of the template
 * with that route key, integrated with its function, with a JWT authorizer exactly when the
 * entry's auth kind is `cognito`; the template has no route the file does not list.
 */
export function httpRouteParityProblems(table: { routes: { method: string; path: string; function: string; auth: string }[] }, json: Json): string[] {
  const problems: string[] = [];
  const found = extractHttpRoutes(json);
  const wanted = new Set(table.routes.map((r) => `${r.method} ${r.path}`));
  for (const r of table.routes) {
    const key = `${r.method} ${r.path}`;
    const hits = found.filter((f) => f.routeKey === key);
    if (hits.length !== 1) {
      problems.push(`${key}: ${hits.length} routes in the template (want exactly 1)`);
      continue;
    }
    const h = hits[0];
    if (!isFunction(h.function, r.function)) problems.push(`${key}: reaches ${h.function}, shared/http-routes.json says ${r.function}`);
    const wantJwt = r.auth === 'cognito';
    const isJwt = h.authorizationType === 'JWT' && h.authorizerType === 'JWT';
    if (wantJwt !== isJwt) {
      problems.push(`${key}: authorization ${h.authorizationType} in the template, auth "${r.auth}" in shared/http-routes.json`);
    }
  }
  for (const f of found) {
    if (!wanted.has(f.routeKey)) problems.push(`${f.routeKey}: route in the template but not in shared/http-routes.json`);
  }
  return problems;
}

/** One line of a dashboard graph: an EMF metric drawn with SEARCH, or a plain metric. */
export interface DashboardLine {
  readonly graph: string;
  readonly label?: string;
  /** `{namespace,dimension}` of a SEARCH, or the namespace of a plain metric. */
  readonly over: string;
  readonly metric: string;
}

/** The dashboards' graph lines, from the template's dashboard bodies (tokens read as `<token>`). */
export function extractDashboardLines(json: Json): DashboardLine[] {
  const out: DashboardLine[] = [];
  for (const d of Object.values<any>(resources(json, 'AWS::CloudWatch::Dashboard'))) {
    const raw = d.Properties.DashboardBody;
    const text =
      typeof raw === 'string'
        ? raw
        : (raw['Fn::Join'][1] as Json[]).map((p) => (typeof p === 'string' ? p : '<token>')).join(raw['Fn::Join'][0]);
    const body = JSON.parse(text);
    for (const w of body.widgets ?? []) {
      if (w.type !== 'metric') continue;
      const graph = String(w.properties.title ?? '');
      for (const line of [...(w.properties.metrics ?? []), ...(w.properties.right ?? [])]) {
        const options = line.find((x: Json) => x && typeof x === 'object' && !Array.isArray(x)) ?? {};
        const search = /^SEARCH\('\{([^}]*)\} MetricName="([^"]*)"'/.exec(options.expression ?? '');
        if (search) out.push({ graph, label: options.label, over: `{${search[1]}}`, metric: search[2] });
        else if (typeof line[0] === 'string' && typeof line[1] === 'string') out.push({ graph, label: options.label, over: line[0], metric: line[1] });
      }
    }
  }
  return out;
}

/**
 * Metric parity: every metric of shared/metrics.json is drawn exactly once, with SEARCH over its
 * namespace and dimension, in the graph and with the label the file gives it; nothing of the
 * namespace is drawn that the file does not list.
 */
export function metricParityProblems(
  table: { namespace: string; dimension: string; metrics: { name: string; graph: string; label: string }[] },
  json: Json,
): string[] {
  const problems: string[] = [];
  const over = `{${table.namespace},${table.dimension}}`;
  const namespaceOf = (l: DashboardLine): string => l.over.replace(/^\{/, '').split(/[,}]/)[0];
  const lines = extractDashboardLines(json).filter((l) => namespaceOf(l) === table.namespace);
  const known = new Set(table.metrics.map((m) => m.name));
  for (const m of table.metrics) {
    const hits = lines.filter((l) => l.metric === m.name);
    if (hits.length !== 1) {
      problems.push(`${m.name}: drawn ${hits.length} times on the dashboard (want exactly 1)`);
      continue;
    }
    const h = hits[0];
    if (h.over !== over) problems.push(`${m.name}: drawn over ${h.over}, shared/metrics.json says ${over}`);
    if (h.graph !== m.graph || h.label !== m.label) {
      problems.push(`${m.name}: drawn in "${h.graph}" as "${h.label}", shared/metrics.json says "${m.graph}" as "${m.label}"`);
    }
  }
  for (const l of lines) {
    if (!known.has(l.metric)) problems.push(`${l.metric}: drawn in "${l.graph}" but not in shared/metrics.json (no function emits it)`);
  }
  return problems;
}
