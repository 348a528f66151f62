import { AuthKind, HttpRouteSpec, HttpRouteTable } from './http-routes';

/**
 * Rate limits derived from the HTTP route table (docs/decisions/0820-rate-limits.md).
 *
 * Every auth kind is classified here — `Record<AuthKind, ...>` makes a new kind a compile error
 * until someone decides whether its routes are public:
 * - public (a Throttle): callers no tenant signs in for (Slack, Stripe, agents posting drift
 *   reports with an API key, the Slack OAuth redirect, the API description). Each such route gets
 *   its own throttle on the stage (RouteSettings), so a flood on tenants' routes does not take
 *   Slack and Stripe down with it, and a flood on one public route throttles that route only.
 * - tenant (null): signed-in users (and API keys on the same routes) keep the stage default.
 */
export interface Throttle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Token bucket size (requests). */
  readonly burstLimit: number;
}

/** Per-route throttle of the public routes, by auth kind; null: a tenant route (stage default). */
export const ROUTE_THROTTLE: Record<AuthKind, Throttle | null> = {
  cognito: null,
  cognito_or_api_key: null,
  // Slash commands and button clicks of every installed workspace.
  slack_signature: { rateLimit: 10, burstLimit: 20 },
  // Stripe retries a 429 with exponential backoff for up to three days: a low limit loses nothing.
  stripe_signature: { rateLimit: 5, burstLimit: 10 },
  // Drift reports of agents (one report, in parts, per stack per run; agents retry).
  api_key: { rateLimit: 5, burstLimit: 10 },
  // A person installing the Slack app: a few requests per install.
  slack_oauth: { rateLimit: 2, burstLimit: 5 },
  // The API description.
  public: { rateLimit: 2, burstLimit: 5 },
};

export function routeKey(r: Pick<HttpRouteSpec, 'method' | 'path'>): string {
  return `${r.method} ${r.path}`;
}

/** The routes of the table whose auth kind is public. */
export function publicRoutes(table: HttpRouteTable): HttpRouteSpec[] {
  return table.routes.filter((r) => ROUTE_THROTTLE[r.auth] !== null);
}

/**
 * RouteSettings throttles, by route key, of the public routes: capped at the stage default, so a
 * route is never allowed more than every route is by default.
 */
export function publicRouteThrottles(table: HttpRouteTable, stage: Throttle): Record<string, Throttle> {
  const out: Record<string, Throttle> = {};
  for (const r of publicRoutes(table)) {
    const t = ROUTE_THROTTLE[r.auth]!;
    out[routeKey(r)] = {
      rateLimit: Math.min(t.rateLimit, stage.rateLimit),
      burstLimit: Math.min(t.burstLimit, stage.burstLimit),
    };
  }
  return out;
}

/**
 * The URI paths a WAF rule scoped to the public routes matches (STARTS_WITH): the literal part of
 * each public route's path, up to its first path parameter; sorted, without duplicates or paths
 * another one already covers.
 */
export function publicPathPrefixes(table: HttpRouteTable): string[] {
  const literal = publicRoutes(table).map((r) => {
    const i = r.path.indexOf('{');
    return i < 0 ? r.path : r.path.slice(0, i);
  });
  const sorted = [...new Set(literal)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && q.endsWith('/') && p.startsWith(q)));
}

/**
 * WAF rate-based rules (requests per source IP per 5-minute window; WAF's lowest limit is 10).
 * Figures: decision 0820.
 */
export const WAF_RATE_LIMITS = {
  /** Any path: ~6.7 requests per second per IP, sustained for 5 minutes. */
  perIp: 2000,
  /** The public routes' paths (where the ACL sees them): ~1 request per second per IP. */
  publicPathsPerIp: 300,
  evaluationWindowSec: 300,
} as const;
