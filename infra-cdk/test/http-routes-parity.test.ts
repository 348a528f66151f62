import { extractHttpRoutes, httpRouteParityProblems } from './checks';
import { clone, readHttpRoutesJson, resources, synth } from './helpers';

// shared/http-routes.json is read here on its own (not through lib/http-routes.ts), so the test
// compares the file the Rust dispatchers are checked against with what the template really does.
const table = readHttpRoutesJson();

describe('HTTP route parity: shared/http-routes.json vs the synthesized template', () => {
  const { json } = synth();

  test('every entry is exactly one route with its function, a JWT authorizer iff cognito, and nothing else', () => {
    expect(httpRouteParityProblems(table, json)).toEqual([]);
    const found = extractHttpRoutes(json);
    expect(found.map((r) => r.routeKey).sort()).toEqual(table.routes.map((r) => `${r.method} ${r.path}`).sort());
    for (const r of table.routes) {
      const hit = found.find((f) => f.routeKey === `${r.method} ${r.path}`)!;
      expect({ route: hit.routeKey, fn: hit.function, auth: hit.authorizationType }).toEqual({
        route: `${r.method} ${r.path}`,
        fn: `dd0c-staging-${r.function}`,
        auth: r.auth === 'cognito' ? 'JWT' : 'NONE',
      });
    }
  });

  test('the JWT authorizer is the Cognito user pool one, reading the Authorization header', () => {
    const authorizers = Object.values<any>(resources(json, 'AWS::ApiGatewayV2::Authorizer'));
    expect(authorizers).toHaveLength(1);
    expect(authorizers[0].Properties.AuthorizerType).toBe('JWT');
    expect(authorizers[0].Properties.IdentitySource).toEqual(['$request.header.Authorization']);
    expect(JSON.stringify(authorizers[0].Properties.JwtConfiguration.Issuer)).toContain('cognito-idp.');
  });

  test('POST /v1/drift-reports reaches the ingest function (its main takes API Gateway and EventBridge events)', () => {
    const hit = extractHttpRoutes(json).filter((r) => r.routeKey === 'POST /v1/drift-reports');
    expect(hit.map((h) => [h.function, h.authorizationType])).toEqual([['dd0c-staging-ingest', 'NONE']]);
    expect(table.routes.filter((r) => r.path === '/v1/drift-reports')).toEqual([
      { method: 'POST', path: '/v1/drift-reports', function: 'ingest', auth: 'api_key' },
    ]);
  });

  test.each([
    ['a route is missing', (routes: Record<string, any>) => delete routes[key(routes, 'GET /v1/me')], /GET \/v1\/me: 0 routes in the template/],
    ['a cognito route has no authorizer', (routes: Record<string, any>) => {
      const r = routes[key(routes, 'PUT /v1/policies')];
      r.Properties.AuthorizationType = 'NONE';
      delete r.Properties.AuthorizerId;
    }, /PUT \/v1\/policies: authorization NONE in the template, auth "cognito"/],
    ['an api-key route gets the JWT authorizer', (routes: Record<string, any>) => {
      const jwt = routes[key(routes, 'GET /v1/me')].Properties;
      Object.assign(routes[key(routes, 'GET /v1/anomalies')].Properties, { AuthorizationType: 'JWT', AuthorizerId: jwt.AuthorizerId });
    }, /GET \/v1\/anomalies: authorization JWT in the template, auth "cognito_or_api_key"/],
    ['a route reaches another function', (routes: Record<string, any>) => {
      routes[key(routes, 'POST /v1/drift-reports')].Properties.Target = routes[key(routes, 'GET /v1/me')].Properties.Target;
    }, /POST \/v1\/drift-reports: reaches dd0c-staging-api, shared\/http-routes.json says ingest/],
    ['the template has a catch-all route', (routes: Record<string, any>) => {
      routes.Extra = clone(routes[key(routes, 'GET /v1/me')]);
      routes.Extra.Properties.RouteKey = 'ANY /v1/{proxy+}';
    }, /ANY \/v1\/\{proxy\+\}: route in the template but not in shared\/http-routes.json/],
  ])('the parity check fails when %s', (_name, mutate, expected) => {
    const broken = clone(json);
    const routes: Record<string, any> = {};
    for (const [id, r] of Object.entries<any>(resources(broken, 'AWS::ApiGatewayV2::Route'))) routes[id] = r;
    mutate(routes);
    for (const id of Object.keys(resources(broken, 'AWS::ApiGatewayV2::Route'))) delete broken.Resources[id];
    Object.assign(broken.Resources, routes);
    expect(httpRouteParityProblems(table, broken).join('\n')).toMatch(expected);
  });
});

describe('browser preflights never meet an authorizer', () => {
  const { json } = synth();
  const [api] = Object.values<any>(resources(json, 'AWS::ApiGatewayV2::Api'));

  test('no route matches OPTIONS (no ANY, no OPTIONS route): API Gateway answers preflights from the CORS configuration', () => {
    const keys = extractHttpRoutes(json).map((r) => r.routeKey);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => /^(ANY|OPTIONS) /.test(k))).toEqual([]);
  });

  test('CORS allows the dashboard origin, exactly the methods the routes use, and the auth and body headers', () => {
    const cors = api.Properties.CorsConfiguration;
    expect(cors.AllowOrigins).toEqual([json.Outputs.DashboardUrl.Value]);
    const used = [...new Set(table.routes.map((r) => r.method))].sort();
    expect([...cors.AllowMethods].sort()).toEqual(used);
    expect(cors.AllowMethods).not.toContain('*');
    expect(cors.AllowHeaders).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-api-key']));
    expect(cors.AllowCredentials ?? false).toBe(false);
  });
});

function key(routes: Record<string, any>, routeKey: string): string {
  const id = Object.keys(routes).find((k) => routes[k].Properties.RouteKey === routeKey);
  if (!id) throw new Error(`no route ${routeKey}`);
  return id;
}
