import * as fs from 'fs';
import * as path from 'path';
import { FUNCTION_NAMES, FunctionName } from './functions';

/**
 * The one HTTP route table (`shared/http-routes.json`): every route the HTTP API exposes, the
 * function it reaches and how its caller is authenticated. The API construct generates one
 * explicit route per entry from it (never a catch-all), and test/http-routes-parity.test.ts checks
 * the synthesized template against the file; the Rust dispatchers are checked against the same file.
 *
 * Only `cognito` routes get the gateway's JWT authorizer (HttpUserPoolAuthorizer). Every other
 * kind gets no gateway authorizer because the gateway cannot check it, and the function does:
 * - `cognito_or_api_key`: the caller is a signed-in user (Cognito ID token) or an agent with an
 *   API key (`dd0c_...`, checked by hash); a JWT authorizer would turn every API-key call away.
 * - `api_key`: agents only; the function looks the key's hash up.
 * - `slack_signature` / `stripe_signature`: Slack and Stripe sign the raw body; the function
 *   verifies the signature in constant time within a replay window.
 * - `slack_oauth`: a browser redirect with no credentials; the function checks the single-use
 *   OAuth state.
 * - `public`: no credentials by design (the API description).
 */
export const AUTH_KINDS = [
  'cognito',
  'cognito_or_api_key',
  'api_key',
  'slack_signature',
  'stripe_signature',
  'slack_oauth',
  'public',
] as const;
export type AuthKind = (typeof AUTH_KINDS)[number];

/**
 * Methods a route may use. No ANY and no OPTIONS: a route that matches OPTIONS would send browser
 * preflights (which carry no credentials) to an authorizer or a function; without one, API Gateway
 * answers them from the CORS configuration.
 */
export const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];

export interface HttpRouteSpec {
  readonly method: RouteMethod;
  readonly path: string;
  readonly function: FunctionName;
  readonly auth: AuthKind;
}

export interface HttpRouteTable {
  readonly auth_kinds: AuthKind[];
  readonly routes: HttpRouteSpec[];
}

/** `<repo>/shared/http-routes.json`, resolved from this file (infra-cdk/lib). */
export const HTTP_ROUTES_FILE = path.resolve(__dirname, '..', '..', 'shared', 'http-routes.json');

export function loadHttpRoutes(file: string = HTTP_ROUTES_FILE): HttpRouteTable {
  const table = JSON.parse(fs.readFileSync(file, 'utf8')) as HttpRouteTable;
  validateHttpRoutes(table, file);
  return table;
}

// A literal segment or one path parameter; greedy `{proxy+}` parameters are not routes of the table.
const SEGMENT = /^(?:[A-Za-z0-9._-]+|\{[A-Za-z_][A-Za-z0-9_]*\})$/;

/** Fails synth early, with a message that says what to fix, when the table is inconsistent. */
export function validateHttpRoutes(table: HttpRouteTable, source = 'HTTP route table'): void {
  const problems: string[] = [];
  const kinds = table.auth_kinds ?? [];
  // The app knows what each kind needs at the gateway; a kind it does not know could need an
  // authorizer it would silently leave out.
  for (const k of kinds) {
    if (!(AUTH_KINDS as readonly string[]).includes(k)) problems.push(`auth kind "${k}" is unknown to the CDK app (known: ${AUTH_KINDS.join(', ')})`);
  }
  const seen = new Map<string, string>();
  for (const r of table.routes ?? []) {
    const key = `${r.method} ${r.path}`;
    if (!(ROUTE_METHODS as readonly string[]).includes(r.method)) {
      problems.push(`${key}: method must be one of ${ROUTE_METHODS.join(', ')} (no ANY/OPTIONS: preflights must not reach a route)`);
    }
    if (typeof r.path !== 'string' || !r.path.startsWith('/v1/')) {
      problems.push(`${key}: path must be under /v1/`);
    } else if (!r.path.slice(1).split('/').every((s) => SEGMENT.test(s))) {
      problems.push(`${key}: path segments must be literals or {param} (no greedy {proxy+}, no empty segment)`);
    }
    if (!(FUNCTION_NAMES as readonly string[]).includes(r.function)) problems.push(`${key}: unknown function "${r.function}"`);
    if (!kinds.includes(r.auth) || !(AUTH_KINDS as readonly string[]).includes(r.auth)) {
      problems.push(`${key}: unknown auth kind "${r.auth}"`);
    }
    // API Gateway matches parameters by position: /a/{id} and /a/{other} are the same route.
    const shape = `${r.method} ${String(r.path).replace(/\{[^}]*\}/g, '{}')}`;
    const twin = seen.get(shape);
    if (twin !== undefined) problems.push(`${key}: declared twice (also as ${twin})`);
    else seen.set(shape, key);
  }
  if ((table.routes ?? []).length === 0) problems.push('no routes');
  if (problems.length > 0) {
    throw new Error(`Invalid ${source}:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Why a route has no gateway authorizer (cdk-nag APIG4 acknowledgements, per auth kind). */
export const NO_GATEWAY_AUTHORIZER_BECAUSE: Record<Exclude<AuthKind, 'cognito'>, string> = {
  cognito_or_api_key:
    'the function accepts a Cognito ID token (verified against the user pool keys) or an agent API key checked by hash; a gateway JWT authorizer would reject every API-key call',
  api_key: 'agents authenticate with an API key that the function checks by hash',
  slack_signature: 'Slack signs the request body; the function verifies the signature in constant time within a replay window',
  stripe_signature: 'Stripe signs the webhook body; the function verifies the signature in constant time within a replay window',
  slack_oauth: 'a browser redirect of the Slack OAuth flow, carrying no credentials; the function checks the single-use OAuth state',
  public: 'the public API description, readable without credentials by design',
};
