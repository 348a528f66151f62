import { HttpRouteTable, loadHttpRoutes, validateHttpRoutes } from '../lib/http-routes';
import { clone, readHttpRoutesJson } from './helpers';

describe('the HTTP route table loader (lib/http-routes.ts)', () => {
  const file = readHttpRoutesJson() as unknown as HttpRouteTable;

  test('shared/http-routes.json is valid', () => {
    expect(() => loadHttpRoutes()).not.toThrow();
    expect(loadHttpRoutes().routes).toHaveLength(file.routes.length);
  });

  const broken = (mutate: (t: any) => void): (() => void) => {
    const t = clone(file) as any;
    mutate(t);
    return () => validateHttpRoutes(t, 'test table');
  };

  test.each([
    ['an unknown function', (t: any) => (t.routes[0].function = 'billing'), /unknown function "billing"/],
    ['an auth kind the file does not declare', (t: any) => (t.routes[0].auth = 'basic'), /unknown auth kind "basic"/],
    ['an auth kind the app does not know', (t: any) => t.auth_kinds.push('mtls'), /auth kind "mtls" is unknown to the CDK app/],
    ['the same method and path twice', (t: any) => t.routes.push(clone(t.routes[0])), /declared twice/],
    ['the same route with another parameter name', (t: any) => t.routes.push({ ...t.routes.find((r: any) => r.path === '/v1/accounts/{id}'), path: '/v1/accounts/{account}' }), /declared twice/],
    ['a path outside /v1/', (t: any) => (t.routes[0].path = '/slack/commands'), /must be under \/v1\//],
    ['a catch-all path', (t: any) => (t.routes[0].path = '/v1/{proxy+}'), /no greedy/],
    ['an ANY route', (t: any) => (t.routes[0].method = 'ANY'), /no ANY\/OPTIONS/],
    ['an OPTIONS route', (t: any) => (t.routes[0].method = 'OPTIONS'), /no ANY\/OPTIONS/],
  ])('synth fails on %s', (_name, mutate, expected) => {
    expect(broken(mutate)).toThrow(expected);
  });
});
