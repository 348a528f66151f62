import * as fs from 'fs';
import * as path from 'path';

/**
 * The one routing table (`shared/routing.json`), read by the Rust bus and by this CDK app.
 * Queues, the producers' send grants and queue URLs, and SQS event-source mappings are
 * generated from it.
 */
export interface RoutingQueue {
  readonly name: string;
  readonly consumer: string;
  readonly consumer_timeout_seconds: number;
  readonly batch_size: number;
}

/**
 * The Kinesis stream the ingest rule puts CloudTrail events on, partitioned by account, which the
 * ingest function drains in batches (docs/decisions/1060-ingest-inbox.md).
 */
export interface Inbox {
  readonly name: string;
  readonly shards: number;
  readonly batch_size: number;
  readonly batching_window_seconds: number;
  readonly retry_attempts: number;
  readonly consumer_timeout_seconds: number;
}

export interface IngestRule {
  readonly detail_type: string;
  readonly function: string;
  readonly queue: string;
  readonly inbox: Inbox;
  readonly message_group: string;
  readonly deduplication: string;
}

export interface Route {
  readonly detail_type: string;
  readonly queue: string;
  /** The message group: `account` (`<tenant>/<account>`) or `tenant`. */
  readonly ordered_by: 'account' | 'tenant';
  /** The functions that publish this detail-type (they get send rights and the queue URL). */
  readonly producers: string[];
}

export interface RoutingTable {
  readonly bus_name: string;
  readonly internal_source: string;
  readonly queues: RoutingQueue[];
  readonly ingest_rule: IngestRule;
  readonly routes: Route[];
  readonly max_receive_count: number;
}

/** `<repo>/shared/routing.json`, resolved from this file (infra-cdk/lib). */
export const ROUTING_FILE = path.resolve(__dirname, '..', '..', 'shared', 'routing.json');

export function loadRouting(file: string = ROUTING_FILE): RoutingTable {
  const table = JSON.parse(fs.readFileSync(file, 'utf8')) as RoutingTable;
  validateRouting(table, file);
  return table;
}

/** Fails synth early, with a message that says what to fix, when the table is inconsistent. */
export function validateRouting(table: RoutingTable, source = 'routing table'): void {
  const problems: string[] = [];
  const queueNames = new Set<string>();
  for (const q of table.queues ?? []) {
    if (!/^[a-z][a-z0-9-]*$/.test(q.name)) problems.push(`queue name "${q.name}" must be lower-case [a-z0-9-]`);
    if (queueNames.has(q.name)) problems.push(`queue "${q.name}" is declared twice`);
    queueNames.add(q.name);
    if (!(q.consumer_timeout_seconds > 0 && q.consumer_timeout_seconds <= 900)) {
      problems.push(`queue "${q.name}": consumer_timeout_seconds must be in 1..900`);
    }
    if (q.consumer_timeout_seconds * 6 > 43200) {
      problems.push(`queue "${q.name}": 6 x consumer_timeout_seconds exceeds the SQS visibility limit (43200 s)`);
    }
    if (!(q.batch_size >= 1 && q.batch_size <= 10)) problems.push(`queue "${q.name}": FIFO batch_size must be in 1..10`);
  }
  const detailTypes = new Set<string>();
  for (const r of table.routes ?? []) {
    if (!queueNames.has(r.queue)) problems.push(`route "${r.detail_type}" targets unknown queue "${r.queue}"`);
    if (detailTypes.has(r.detail_type)) problems.push(`detail-type "${r.detail_type}" is routed twice`);
    detailTypes.add(r.detail_type);
    if (r.ordered_by !== 'account' && r.ordered_by !== 'tenant') {
      problems.push(`route "${r.detail_type}": ordered_by must be "account" or "tenant"`);
    }
    if (!Array.isArray(r.producers) || r.producers.length === 0) problems.push(`route "${r.detail_type}" names no producer`);
  }
  if (!table.ingest_rule || !queueNames.has(table.ingest_rule.queue)) {
    problems.push('ingest_rule.queue must name a declared queue');
  }
  const inbox = table.ingest_rule?.inbox;
  if (!inbox || !/^[a-z][a-z0-9-]*$/.test(inbox.name) || queueNames.has(inbox.name)) {
    problems.push('ingest_rule.inbox.name must be a lower-case [a-z0-9-] name of its own');
  } else {
    // Lambda's Kinesis event source limits.
    if (!(inbox.shards >= 1)) problems.push('ingest_rule.inbox.shards must be >= 1');
    if (!(inbox.batch_size >= 1 && inbox.batch_size <= 10000)) problems.push('ingest_rule.inbox.batch_size must be in 1..10000');
    if (!(inbox.batching_window_seconds >= 0 && inbox.batching_window_seconds <= 300)) {
      problems.push('ingest_rule.inbox.batching_window_seconds must be in 0..300');
    }
    if (!(inbox.retry_attempts >= 0 && inbox.retry_attempts <= 10000)) problems.push('ingest_rule.inbox.retry_attempts must be in 0..10000');
    if (!(inbox.consumer_timeout_seconds > 0 && inbox.consumer_timeout_seconds <= 900)) {
      problems.push('ingest_rule.inbox.consumer_timeout_seconds must be in 1..900');
    }
  }
  if (!(table.max_receive_count >= 1)) problems.push('max_receive_count must be >= 1');
  if (!table.bus_name || !table.internal_source) problems.push('bus_name and internal_source are required');
  if (problems.length > 0) {
    throw new Error(`Invalid ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Kinesis stream name of the ingest inbox (`<prefix>-<name>`) and its standard SQS DLQ (`<prefix>-<name>-dlq`). */
export function inboxStreamName(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}
export function inboxDlqName(prefix: string, name: string): string {
  return `${prefix}-${name}-dlq`;
}

/** SQS queue name for a routing queue (`<prefix>-<name>.fifo`; the `.fifo` suffix is mandatory). */
export function queueName(prefix: string, name: string): string {
  return `${prefix}-${name}.fifo`;
}

export function dlqName(prefix: string, name: string): string {
  return `${prefix}-${name}-dlq.fifo`;
}

/** `QUEUE_URL_INGEST`, `DLQ_URL_SCORE`, ... */
export function queueEnvName(kind: 'QUEUE_URL' | 'DLQ_URL', queue: string): string {
  return `${kind}_${queue.toUpperCase().replace(/-/g, '_')}`;
}
