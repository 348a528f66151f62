// Journey 1 in headless Chromium: two people sign up through the hosted UI from the real
// dashboard (served as CloudFront serves it by the local cloud), each lands on their own
// tenant, and neither can see or change the other's data. Run by
// tests/e2e/test_journey_1_sign_up.py, which starts the local cloud and passes:
//   DASHBOARD_URL   the distribution's https URL (cloud.dashboard_url)
//   COGNITO_URL     where the config's cognitoDomain resolves (cloud.hosted_ui_url)
//   API_URL         where the config's apiUrl resolves (cloud.api_url)
//   SHOTS           screenshot folder; USER1 / USER2 / PASSWORD the people signing up
// Prints one line `RESULT {json}` (tenants, tokens, ids) for the Python side's checks.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const DASHBOARD = process.env.DASHBOARD_URL.replace(/\/+$/, '');
const COGNITO = process.env.COGNITO_URL.replace(/\/+$/, '');
const API = process.env.API_URL.replace(/\/+$/, '');
const SHOTS = process.env.SHOTS;
const PASSWORD = process.env.PASSWORD;
const TIMEOUT = 20000;
const TENANT = /tenant (t-[0-9a-f]{32})\b/;
const ACCOUNT = process.env.ACCOUNT;

const diagnostics = [];
const contexts = [];

function note(who, line) {
  diagnostics.push(`[${who}] ${line}`);
}

async function step(name, fn) {
  process.stdout.write(`- ${name} ... `);
  const t0 = Date.now();
  await fn();
  process.stdout.write(`ok (${Date.now() - t0} ms)\n`);
}

async function browser(who) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd0c-journey1-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors'],
    viewport: { width: 1360, height: 900 },
  });
  contexts.push({ context, userDataDir });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => note(who, 'page error: ' + e.message));
  page.on('console', (m) => note(who, `console.${m.type()}: ${m.text()}`));
  page.on('requestfailed', (r) => note(who, `request failed: ${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) note(who, `HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) note(who, 'navigated: ' + f.url()); });
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

// What the dashboard's code would send, from the page (a real cross-origin fetch with its
// CORS preflight), with the token the page holds.
async function apiFromPage(page, method, route, body) {
  return page.evaluate(async ({ api, method, route, body }) => {
    const token = sessionStorage.getItem('dd0c.id_token');
    const init = { method, headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(api + route, init);
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = text; }
    return { status: r.status, body: json };
  }, { api: API, method, route, body });
}

async function signUp(who, email) {
  const page = await browser(who);
  await page.goto(DASHBOARD + '/');
  // No token: the dashboard starts the authorization code flow at the hosted UI.
  await page.waitForURL((u) => u.href.startsWith(COGNITO + '/login?'));
  const authorize = new URL(page.url());
  assert.equal(authorize.searchParams.get('redirect_uri'), DASHBOARD + '/', 'redirect_uri is the dashboard root');
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  await shot(page, `${who}-01-hosted-ui-sign-in`);
  await page.click('#signup-link');
  await page.waitForURL((u) => u.href.startsWith(COGNITO + '/signup?'));
  await page.fill('#username', email);
  await page.fill('#password', PASSWORD);
  await shot(page, `${who}-02-sign-up-form`);
  await page.click('#signup');
  // Back on the dashboard with ?code&state, exchanged for tokens; the code leaves the address bar.
  await page.waitForURL((u) => u.origin === DASHBOARD && !u.searchParams.has('code'));
  const whoami = page.locator('#whoami');
  await whoami.filter({ hasText: TENANT }).waitFor();
  const text = await whoami.textContent();
  const tenant = TENANT.exec(text)[1];
  await page.locator('#page-title').waitFor();
  assert.equal(await page.locator('main .error').count(), 0, 'no error on the first page: ' + await page.locator('main').innerText());
  const token = await page.evaluate(() => sessionStorage.getItem('dd0c.id_token'));
  assert.ok(token && token.split('.').length === 3, 'an ID token in sessionStorage');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('dd0c.pkce')), null, 'the PKCE verifier is gone once redeemed');
  await shot(page, `${who}-03-signed-in`);
  return { page, email, tenant, token, whoami: text };
}

async function open(page, hash, title) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.locator('#page-title', { hasText: title }).waitFor();
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  let u1;
  let u2;
  const ids = {};

  await step('user 1 opens the dashboard, signs up on the hosted UI and lands on their tenant', async () => {
    u1 = await signUp('user1', process.env.USER1);
  });

  await step('user 1 opens the accounts page and connects an AWS account', async () => {
    await open(u1.page, '#/accounts', 'AWS accounts');
    await u1.page.locator('#usage-summary').waitFor();
    await u1.page.locator('main .empty', { hasText: 'No accounts connected yet.' }).waitFor();
    assert.equal(await u1.page.locator('main .error').count(), 0, await u1.page.locator('main').innerText());
    await shot(u1.page, 'user1-04-accounts');
    await u1.page.click('#connect-account');
    const externalId = await u1.page.locator('#external-id').textContent();
    assert.match(externalId, /^[0-9a-f-]{36}$/, 'an ExternalId for the quick-create stack');
    const quickCreate = await u1.page.locator('#quick-create-link').getAttribute('href');
    assert.ok(quickCreate.includes('param_ExternalId=' + externalId), quickCreate);
    await u1.page.fill('#aws-account-id', ACCOUNT);
    await u1.page.fill('#role-arn', `arn:aws:iam::${ACCOUNT}:role/dd0c-readonly`);
    await u1.page.click('button:has-text("Verify and connect")');
    await u1.page.locator('main p.ok', { hasText: 'Connected ' + ACCOUNT + '.' }).waitFor();
    await u1.page.getByRole('cell', { name: ACCOUNT, exact: true }).waitFor();
    await shot(u1.page, 'user1-05-account-connected');
    const connectedText = await u1.page.locator('main').innerText();
    assert.ok(!/^null$/m.test(connectedText), 'no stray "null" on the page: ' + connectedText);
    assert.ok(!connectedText.includes('$-0.00'), 'no negative zero money: ' + connectedText);
  });

  await step('user 1 creates an API key from the API keys page', async () => {
    await open(u1.page, '#/api-keys', 'API keys');
    await u1.page.locator('main .empty', { hasText: 'No keys yet.' }).waitFor();
    await u1.page.fill('#key-name', 'user1 drift agent');
    await u1.page.click('form.inline-form button[type=submit]');
    const secret = await u1.page.locator('#new-api-key').textContent();
    assert.ok(secret && secret.length > 16, 'the key is shown once: ' + secret);
    await u1.page.locator('main table td', { hasText: 'user1 drift agent' }).waitFor();
    await shot(u1.page, 'user1-06-api-key-created');
    const keys = await apiFromPage(u1.page, 'GET', '/v1/api-keys?limit=100');
    assert.equal(keys.status, 200, JSON.stringify(keys));
    assert.equal(keys.body.items.length, 1, JSON.stringify(keys.body));
    ids.key_id = keys.body.items[0].key_id;
  });

  await step('user 1 adds a stack from the stacks page', async () => {
    await open(u1.page, '#/stacks', 'Stacks & drift');
    await u1.page.locator('main .empty', { hasText: 'No stacks yet.' }).waitFor();
    await u1.page.click('summary:has-text("Add a stack")');
    await u1.page.fill('#stack-name', 'user1-network');
    await u1.page.fill('#stack-account', ACCOUNT);
    await u1.page.fill('#stack-region', 'eu-west-1');
    await u1.page.click('button:has-text("Add stack")');
    await u1.page.locator('[role=status]', { hasText: 'Stack added.' }).waitFor();
    await u1.page.locator('main table td', { hasText: 'user1-network' }).waitFor();
    await shot(u1.page, 'user1-07-stack-added');
    const stacks = await apiFromPage(u1.page, 'GET', '/v1/stacks?limit=100');
    assert.equal(stacks.status, 200, JSON.stringify(stacks));
    assert.equal(stacks.body.items.length, 1, JSON.stringify(stacks.body));
    assert.equal(stacks.body.items[0].enabled, true);
    ids.stack_id = stacks.body.items[0].stack_id;
  });

  await step('user 2 signs up in another browser and gets a different tenant', async () => {
    u2 = await signUp('user2', process.env.USER2);
    assert.notEqual(u2.tenant, u1.tenant, 'two sign-ups, two tenants');
    assert.notEqual(u2.token, u1.token);
  });

  await step("user 2 sees none of user 1's keys, accounts and stacks", async () => {
    await open(u2.page, '#/api-keys', 'API keys');
    await u2.page.locator('main .empty', { hasText: 'No keys yet.' }).waitFor();
    await shot(u2.page, 'user2-04-api-keys-empty');
    await open(u2.page, '#/accounts', 'AWS accounts');
    await u2.page.locator('main .empty', { hasText: 'No accounts connected yet.' }).waitFor();
    await shot(u2.page, 'user2-05-accounts-empty');
    await open(u2.page, '#/stacks', 'Stacks & drift');
    await u2.page.locator('main .empty', { hasText: 'No stacks yet.' }).waitFor();
    assert.equal(await u2.page.locator('main td', { hasText: 'user1-network' }).count(), 0);
    await shot(u2.page, 'user2-06-stacks-empty');
  });

  await step("user 2 cannot change or delete user 1's stack, key nor account (404)", async () => {
    const patch = await apiFromPage(u2.page, 'PATCH', '/v1/stacks/' + encodeURIComponent(ids.stack_id), { enabled: false });
    assert.equal(patch.status, 404, 'PATCH of another tenant\'s stack: ' + JSON.stringify(patch));
    const del = await apiFromPage(u2.page, 'DELETE', '/v1/api-keys/' + encodeURIComponent(ids.key_id));
    assert.equal(del.status, 404, 'DELETE of another tenant\'s key: ' + JSON.stringify(del));
    const disconnect = await apiFromPage(u2.page, 'DELETE', '/v1/accounts/' + ACCOUNT);
    // Another tenant's account answers as one nobody connected: a 403 told anyone which
    // accounts are customers (decision 0600, issue 17).
    assert.equal(disconnect.status, 404, 'DELETE of another tenant\'s account: ' + JSON.stringify(disconnect));
    const keys = await apiFromPage(u2.page, 'GET', '/v1/api-keys?limit=100');
    assert.deepEqual(keys.body.items, [], JSON.stringify(keys));
  });

  await step('user 1 still has the key, the stack and the account, unchanged', async () => {
    await u1.page.reload();
    await u1.page.locator('#whoami').filter({ hasText: u1.tenant }).waitFor();
    await open(u1.page, '#/stacks', 'Stacks & drift');
    const row = u1.page.locator('main tr', { hasText: 'user1-network' });
    await row.waitFor();
    assert.equal(await row.locator('button[aria-pressed]').getAttribute('aria-pressed'), 'true', 'still watched');
    await open(u1.page, '#/api-keys', 'API keys');
    await u1.page.locator('main table td', { hasText: 'user1 drift agent' }).waitFor();
    await open(u1.page, '#/accounts', 'AWS accounts');
    const acc = u1.page.locator('main tr', { hasText: ACCOUNT });
    await acc.waitFor();
    // The account's status badge: the row's backfill cell takes a data-status of its own when
    // its read comes back.
    assert.equal(await acc.locator('span.status[data-status]').getAttribute('data-status'), 'active', await acc.innerText());
    await shot(u1.page, 'user1-08-still-there');
  });

  process.stdout.write('RESULT ' + JSON.stringify({
    users: [u1, u2].map((u) => ({ email: u.email, tenant: u.tenant, token: u.token, whoami: u.whoami })),
    account: ACCOUNT,
    ...ids,
  }) + '\n');
}

main().then(
  () => 0,
  async (e) => {
    process.stdout.write('FAILED\n');
    console.error(e && e.stack ? e.stack : e);
    for (const { context } of contexts) {
      for (const p of context.pages()) {
        try {
          console.error(`--- page ${p.url()}`);
          console.error((await p.locator('body').innerText()).slice(0, 2000));
          await p.screenshot({ path: path.join(SHOTS, 'failure-' + contexts.findIndex((c) => c.context === context) + '.png'), fullPage: true });
        } catch (err) { /* the page may be gone */ }
      }
    }
    return 1;
  },
).then(async (code) => {
  if (diagnostics.length) {
    console.error('--- browser diagnostics (console, failed requests, HTTP errors, navigations)');
    for (const d of diagnostics) console.error(d);
  }
  for (const { context, userDataDir } of contexts) {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.exit(code);
});
