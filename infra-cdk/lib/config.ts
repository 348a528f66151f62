import { Node } from 'constructs';
import { defaultTraceSamplePercent } from './functions';

export type EnvName = 'staging' | 'prod';

/**
 * Per-environment settings. Defaults live in cdk.json under `dd0c:environments`; every key can
 * be overridden on the command line with `-c <key>=<value>` (lists as comma-separated strings).
 * No account id is ever hard-coded: the account comes from `-c account=` or the credentials
 * (CDK_DEFAULT_ACCOUNT); without either the stack is environment-agnostic (offline synth).
 */
export interface EnvConfig {
  readonly envName: EnvName;
  readonly account?: string;
  readonly region?: string;
  /** owner/repo of the GitHub repository allowed to deploy (GitHub OIDC). */
  readonly githubRepo?: string;
  /** OIDC subjects (after `repo:<owner>/<repo>:`) allowed to assume the deploy role. */
  readonly deploySubjects: string[];
  /** Reuse an existing GitHub OIDC provider (one per account) instead of creating one. */
  readonly githubOidcProviderArn?: string;
  /**
   * Optional narrowing of the bus policy: when set, only these AWS accounts may PutEvents
   * (forwarded CloudTrail events) on the dd0c bus. Empty (the default), together with no
   * `customerOrganizationId`: any account may (docs/decisions/0810-open-bus-onboarding.md).
   */
  readonly customerAccountIds: string[];
  /** Optional narrowing: an AWS Organizations id (o-xxxxxxxxxx) whose accounts may PutEvents. */
  readonly customerOrganizationId?: string;
  readonly alarmEmail?: string;
  readonly rustLog: string;
  /**
   * Share of CloudTrail events traced end to end (0-100, by trace id; 0 turns tracing off).
   * Spans go over OTLP to the ADOT collector layer beside each function (decision 0710).
   */
  readonly traceSamplePercent: number;
  /** The ADOT collector layer (`<name>:<version>` of account 901920570463, arm64). */
  readonly otelCollectorLayer: string;
  readonly logRetentionDays: number;
  readonly apiRateLimit: number;
  readonly apiBurstLimit: number;
  /** Reserved concurrency needs account headroom (new accounts have a limit of 10). */
  readonly reservedConcurrency: boolean;
  /**
   * `-c deploy=true`: this synth is for a real deployment (cdk deploy, deploy.yml). Requires
   * target/lambda/<fn>/bootstrap for every function and the GitHub repository, so a deploy can
   * neither ship the placeholder asset nor drop the GitHub deploy role by omission.
   */
  readonly forDeploy: boolean;
  /** Root of the cargo-lambda output, default <repo>/target/lambda. */
  readonly lambdaAssetRoot?: string;
}

interface RawEnv {
  [key: string]: unknown;
}

const ENV_NAMES: EnvName[] = ['staging', 'prod'];

function asList(v: unknown): string[] {
  if (v === undefined || v === null || v === '') return [];
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter((x) => x.length > 0);
  return String(v)
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

function asBool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v === 'boolean') return v;
  return ['1', 'true', 'yes'].includes(String(v).toLowerCase());
}

function asNumber(v: unknown, dflt: number): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got "${String(v)}"`);
  return n;
}

function asOptString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  return s.length > 0 ? s : undefined;
}

export function resolveConfig(node: Node): EnvConfig {
  const envName = String(node.tryGetContext('env') ?? 'staging') as EnvName;
  if (!ENV_NAMES.includes(envName)) {
    throw new Error(`-c env=${envName}: expected one of ${ENV_NAMES.join(', ')}`);
  }
  const all = (node.tryGetContext('dd0c:environments') ?? {}) as Record<string, RawEnv>;
  const base: RawEnv = all[envName] ?? {};
  // Command-line context wins over the cdk.json block.
  const get = (key: string): unknown => {
    const cli = node.tryGetContext(key);
    return cli !== undefined ? cli : base[key];
  };

  const account = asOptString(get('account')) ?? asOptString(process.env.CDK_DEFAULT_ACCOUNT);
  if (account !== undefined && !/^\d{12}$/.test(account)) {
    throw new Error(`account "${account}" is not a 12-digit AWS account id`);
  }
  const region = asOptString(get('region')) ?? asOptString(process.env.CDK_DEFAULT_REGION);

  const githubRepo = asOptString(get('githubRepo')) ?? asOptString(process.env.GITHUB_REPOSITORY);
  if (githubRepo !== undefined && !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(githubRepo)) {
    throw new Error(`githubRepo "${githubRepo}" must be "<owner>/<repo>"`);
  }

  const customerAccountIds = asList(get('customerAccountIds'));
  for (const id of customerAccountIds) {
    if (!/^\d{12}$/.test(id)) throw new Error(`customerAccountIds: "${id}" is not a 12-digit AWS account id`);
  }
  const customerOrganizationId = asOptString(get('customerOrganizationId'));
  if (customerOrganizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(customerOrganizationId)) {
    throw new Error(`customerOrganizationId "${customerOrganizationId}" is not an AWS Organizations id (o-...)`);
  }

  const forDeploy = asBool(get('deploy'), false);
  if (forDeploy && githubRepo === undefined) {
    throw new Error('-c deploy=true needs the GitHub repository: set githubRepo in cdk.json or pass -c githubRepo=<owner>/<repo>');
  }
  const deploySubjects = asList(get('deploySubjects'));
  return {
    envName,
    account,
    region,
    githubRepo,
    deploySubjects: deploySubjects.length > 0 ? deploySubjects : ['ref:refs/heads/main'],
    githubOidcProviderArn: asOptString(get('githubOidcProviderArn')),
    customerAccountIds,
    customerOrganizationId,
    alarmEmail: asOptString(get('alarmEmail')),
    rustLog: asOptString(get('rustLog')) ?? 'info',
    traceSamplePercent: asNumber(get('traceSamplePercent'), defaultTraceSamplePercent()),
    otelCollectorLayer: asOptString(get('otelCollectorLayer')) ?? 'aws-otel-collector-arm64-ver-0-117-0:1',
    logRetentionDays: asNumber(get('logRetentionDays'), 30),
    apiRateLimit: asNumber(get('apiRateLimit'), 50),
    apiBurstLimit: asNumber(get('apiBurstLimit'), 100),
    reservedConcurrency: asBool(get('reservedConcurrency'), true),
    forDeploy,
    lambdaAssetRoot: asOptString(get('lambdaAssetRoot')),
  };
}
