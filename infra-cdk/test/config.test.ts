import { App } from 'aws-cdk-lib';
import { resolveConfig } from '../lib/config';
import { cdkJsonContext } from '../lib/app';
import { loadRouting, ROUTING_FILE, validateRouting } from '../lib/routing';
import { clone, readRoutingJson } from './helpers';

const config = (context: Record<string, unknown>) => resolveConfig(new App({ context: { ...cdkJsonContext(), ...context } }).node);

describe('environments by context', () => {
  test('staging is the default; prod is selected with -c env=prod', () => {
    expect(config({}).envName).toBe('staging');
    expect(config({ env: 'prod' }).envName).toBe('prod');
    expect(config({ env: 'prod' }).deploySubjects).toEqual(['environment:production']);
    expect(config({}).deploySubjects).toEqual(['ref:refs/heads/main']);
  });

  test('no account is assumed: none in cdk.json, taken from -c account= when given', () => {
    expect(config({}).account).toBeUndefined();
    expect(config({ account: '123456789012', region: 'eu-west-1' })).toMatchObject({ account: '123456789012', region: 'eu-west-1' });
  });

  test('command-line lists override cdk.json', () => {
    expect(config({ customerAccountIds: '111111111111, 222222222222' }).customerAccountIds).toEqual(['111111111111', '222222222222']);
  });

  test('bad values fail with a message naming the setting', () => {
    expect(() => config({ env: 'dev' })).toThrow(/env=dev/);
    expect(() => config({ account: '1234' })).toThrow(/12-digit/);
    expect(() => config({ githubRepo: 'not a repo' })).toThrow(/owner/);
    expect(() => config({ logRetentionDays: 'x' })).toThrow(/number/);
    expect(() => config({ deploy: 'true', githubRepo: '' })).toThrow(/githubRepo/);
  });
});

describe('routing table loader', () => {
  test('loads shared/routing.json', () => {
    expect(loadRouting(ROUTING_FILE)).toEqual(readRoutingJson());
  });

  test('rejects a route without producers or with an unknown ordering', () => {
    const bad = clone(readRoutingJson()) as any;
    bad.routes.find((r: any) => r.detail_type === 'dd0c.Finding').producers = [];
    bad.routes.find((r: any) => r.detail_type === 'dd0c.CostEvent').ordered_by = 'global';
    expect(() => validateRouting(bad)).toThrow(/"dd0c.CostEvent": ordered_by must be "account" or "tenant"[\s\S]*"dd0c.Finding" names no producer/);
  });

  test('rejects a route to an unknown queue, a duplicate detail-type and a FIFO batch over 10', () => {
    const bad = clone(readRoutingJson()) as any;
    bad.routes.push({ detail_type: 'dd0c.X', queue: 'nope', ordered_by: 'tenant', producers: ['scorer'] });
    bad.routes.push({ ...bad.routes[0] });
    bad.queues[0].batch_size = 50;
    expect(() => validateRouting(bad)).toThrow(/batch_size[\s\S]*unknown queue "nope"[\s\S]*routed twice/);
  });
});
