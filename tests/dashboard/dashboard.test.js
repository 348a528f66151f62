// Drives the dashboard served by `dd0c demo` in headless Chromium. Run by
// scripts/test-dashboard.sh, which starts the server and passes DD0C_URL and DD0C_TOKEN.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const BASE = process.env.DD0C_URL;
const TOKEN = process.env.DD0C_TOKEN;
const SHOTS = path.join(__dirname, 'screenshots');
const TIMEOUT = 15000;

async function api(method, route, body) {
  const r = await fetch(BASE + route, {
    method,
    headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${route} answered ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function step(name, fn) {
  process.stdout.write(`- ${name} ... `);
  await fn();
  process.stdout.write('ok\n');
}

async function main() {
  assert.ok(BASE, 'DD0C_URL is not set');
  assert.ok(TOKEN, 'DD0C_TOKEN is not set');
  fs.mkdirSync(SHOTS, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dd0c-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 },
  });
  const problems = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => {
      // Chromium logs every 4xx fetch; the test provokes the plan limit's 403, a bad time
      // zone's 400 and the unconfigured Slack app's 409.
      if (m.type() === 'error' && !/status of (403|400|409)/.test(m.text())) problems.push('console error: ' + m.text());
    });

    // The critical anomaly of the demo: eight p3.16xlarge launched in ap-south-1.
    const anomalies = (await api('GET', '/v1/anomalies?kind=cost_anomaly&severity=critical&limit=100')).items;
    const critical = anomalies.find((f) => f.region === 'ap-south-1' && f.details && f.details.sku === 'p3.16xlarge');
    assert.ok(critical, 'the demo has no critical p3.16xlarge anomaly in ap-south-1: ' + JSON.stringify(anomalies.map((f) => f.id)));
    assert.equal(critical.status, 'open', 'the demo anomaly should start open');

    await step('overview lists the critical p3.16xlarge anomaly in ap-south-1', async () => {
      await page.goto(BASE + '/');
      const row = page.locator(`tr[data-finding-id="${critical.id}"]`);
      await row.waitFor();
      const text = await row.innerText();
      assert.match(text, /critical/i);
      assert.match(text, /p3\.16xlarge/);
      assert.match(text, /ap-south-1/);
      assert.match(text, /\$206\.04/);
      assert.match(text, /ci-deploy/);
      assert.match(text, /open/i);
      const cards = await page.locator('.cards').innerText();
      assert.match(cards, /critical, open/);
      await page.screenshot({ path: path.join(SHOTS, 'overview.png'), fullPage: true });
    });

    await step('the security-group drift is listed when the demo has one', async () => {
      const drift = (await api('GET', '/v1/drift-events?limit=100')).items;
      const sg = drift.find((f) => /security-group/.test(f.resource_type));
      if (!sg) {
        process.stdout.write('(the demo data has no security-group drift yet) ');
        return;
      }
      await page.goto(BASE + '/#/?kind=drift');
      const row = page.locator(`tr[data-finding-id="${sg.id}"]`);
      await row.waitFor();
      assert.match(await row.innerText(), new RegExp(sg.severity, 'i'));
    });

    await step('filters narrow the list (severity=info hides the critical anomaly)', async () => {
      await page.goto(BASE + '/#/?severity=info');
      await page.locator('#findings-h').waitFor();
      await page.locator('#findings-h ~ div').first().waitFor();
      await page.waitForFunction(() => !document.querySelector('.loading'));
      assert.equal(await page.locator(`tr[data-finding-id="${critical.id}"]`).count(), 0);
      assert.equal(await page.locator('#severity').inputValue(), 'info');
    });

    await step('"Mark expected" on the finding page changes its status', async () => {
      await page.goto(BASE + '/');
      await page.locator(`tr[data-finding-id="${critical.id}"] a.finding-link`).click();
      await page.getByRole('heading', { level: 1, name: /p3\.16xlarge/ }).waitFor();
      assert.equal(await page.locator('#finding-status [data-status]').getAttribute('data-status'), 'open');
      await page.getByRole('button', { name: 'Mark expected' }).click();
      await page.locator('#finding-status [data-status="expected"]').waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'finding.png'), fullPage: true });
      const stored = await api('GET', '/v1/anomalies/' + encodeURIComponent(critical.id));
      assert.equal(stored.status, 'expected', 'the API does not have the new status');
      await page.goto(BASE + '/');
      const status = page.locator(`tr[data-finding-id="${critical.id}"] [data-status]`);
      await status.waitFor();
      assert.equal(await status.getAttribute('data-status'), 'expected');
      // Undo, so that a rerun against the same server starts from the same state.
      await api('PATCH', '/v1/anomalies/' + encodeURIComponent(critical.id), { action: 'reopen' });
    });

    await step('the accounts page shows the plan usage from /v1/me', async () => {
      const me = await api('GET', '/v1/me');
      await page.goto(BASE + '/#/accounts');
      const summary = page.locator('#usage-summary');
      await summary.waitFor();
      const text = (await summary.innerText()).trim();
      assert.match(text, /^\d+\/\d+ accounts used$/);
      assert.equal(text, me.usage.summary);
      assert.equal(text, `${me.usage.accounts_used}/${me.usage.accounts_limit} accounts used`);
      await page.getByRole('button', { name: 'Connect AWS account' }).click();
      if (me.usage.accounts_used < me.usage.accounts_limit) {
        const link = page.locator('#quick-create-link');
        await link.waitFor();
        assert.match(await link.getAttribute('href'), /^https:\/\/console\.aws\.amazon\.com\/cloudformation\/.*quickcreate.*param_ExternalId=/);
      } else {
        // At the plan's limit the API answers 403 and the page offers the upgrade.
        const alert = page.getByRole('alert');
        await alert.waitFor();
        assert.match(await alert.innerText(), /403/);
        await page.locator('.panel').getByRole('button', { name: 'Upgrade to Pro' }).waitFor();
      }
      await page.screenshot({ path: path.join(SHOTS, 'accounts.png'), fullPage: true });
    });

    await step('the accounts page shows how far the backfill of each account has come', async () => {
      const accounts = (await api('GET', '/v1/accounts?limit=100')).items;
      assert.ok(accounts.length > 0, 'the demo connects accounts');
      const first = accounts[0].account_id;
      // The demo's accounts have no role to read history with: the API says so, and so does the page.
      const real = await api('GET', '/v1/accounts/' + first + '/backfill');
      assert.equal(real.status, 'not_started');
      await page.goto(BASE + '/#/accounts');
      const cell = page.locator('#backfill-' + first);
      await cell.locator('text=Not read yet').waitFor();
      // A backfill under way, as the API reports it for an account with a role.
      const progress = {
        account_id: first, status: 'running', regions_total: 33, regions_finished: 31,
        history_since: '2026-09-03T10:00:00Z', requests: 57, throttled: 2, pages: 24, events: 1180, cost_events: 42,
        regions: [
          { region: 'us-east-1', status: 'running', pages: 20, requests: 22, throttled: 2, events: 1000, cost_events: 40, oldest_event: '2026-09-03T10:00:00Z', window_start: '2026-09-02T12:00:00Z', window_end: '2026-12-01T12:00:00Z', started_at: '2026-12-01T12:00:01Z', updated_at: '2026-12-01T12:01:00Z', finished_at: null, error: null },
          { region: 'eu-west-1', status: 'capped', pages: 4, requests: 4, throttled: 0, events: 180, cost_events: 2, oldest_event: '2026-10-01T10:00:00Z', window_start: '2026-09-02T12:00:00Z', window_end: '2026-12-01T12:00:00Z', started_at: '2026-12-01T12:00:01Z', updated_at: '2026-12-01T12:01:00Z', finished_at: '2026-12-01T12:01:00Z', error: null },
        ],
      };
      await page.route('**/v1/accounts/' + first + '/backfill', (route) => route.fulfill({
        status: 200, contentType: 'application/json', body: JSON.stringify(progress),
      }));
      await page.reload();
      await cell.locator('text=Reading: 31/33 regions, 1,180 events (42 cost)').waitFor();
      const text = await cell.innerText();
      assert.match(text, /57 requests \(2 throttled\)/);
      assert.match(text, /Stopped at the page cap in eu-west-1/);
      assert.equal(await cell.getAttribute('data-status'), 'running');
      await page.screenshot({ path: path.join(SHOTS, 'accounts-backfill.png'), fullPage: true });
      await page.unroute('**/v1/accounts/' + first + '/backfill');
    });

    await step('stacks & drift page adds a stack', async () => {
      await page.goto(BASE + '/#/stacks');
      await page.locator('#drift-h').waitFor();
      await page.locator('summary').click();
      const name = 'web-' + Date.now();
      await page.fill('#stack-name', name);
      await page.fill('#stack-account', '111122223333');
      await page.fill('#stack-region', 'ap-south-1');
      await page.getByRole('button', { name: 'Add stack' }).click();
      await page.getByRole('cell', { name }).waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'stacks.png'), fullPage: true });
    });

    await step('API keys page creates a key shown once and lists it', async () => {
      await page.goto(BASE + '/#/api-keys');
      const name = 'agent-' + Date.now();
      await page.fill('#key-name', name);
      await page.getByRole('button', { name: 'Create key' }).click();
      const key = (await page.locator('#new-api-key').innerText()).trim();
      assert.ok(key.length > 20, 'no key shown: ' + key);
      await page.getByRole('cell', { name }).waitFor();
      const listed = (await api('GET', '/v1/api-keys?limit=100')).items;
      assert.ok(listed.some((k) => k.name === name), 'the key is not listed by the API');
      assert.ok(!JSON.stringify(listed).includes(key), 'the plain key is listed');
      await page.screenshot({ path: path.join(SHOTS, 'api-keys.png'), fullPage: true });
    });

    await step('Slack page saves the digest time and names a bad time zone', async () => {
      await page.goto(BASE + '/#/slack');
      await page.locator('#slack-settings').waitFor();
      await page.fill('#digest_time_zone', 'Mars/Base');
      await page.getByRole('button', { name: 'Save' }).click();
      const error = await page.locator('#slack-status [role=alert]').innerText();
      assert.match(error, /Error 400/);
      assert.match(error, /Mars\/Base/);
      await page.fill('#digest_time_zone', 'Europe/Berlin');
      await page.selectOption('#digest_hour', '7');
      await page.fill('#default_channel', '#cost-alerts');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('#slack-status [role=status]').waitFor();
      const saved = await api('GET', '/v1/settings/slack');
      assert.deepEqual([saved.digest_time_zone, saved.digest_hour, saved.default_channel], ['Europe/Berlin', 7, '#cost-alerts']);
      // The demo runs without a Slack app: installing says what is missing.
      await page.getByRole('button', { name: 'Add to Slack' }).click();
      assert.match(await page.locator('#slack-status [role=alert]').innerText(), /Error 409.*client_id/s);
      await page.screenshot({ path: path.join(SHOTS, 'slack.png'), fullPage: true });
    });

    assert.deepEqual(problems, [], 'the browser reported errors');
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log('dashboard test passed');
}, (e) => {
  console.error('dashboard test FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
