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

    // The demo launches eight p3.16xlarge four times in two minutes: one burst, one incident.
    const incidents = (await api('GET', '/v1/incidents?kind=cost_anomaly&severity=critical&limit=100')).items;
    const burst = incidents.find((i) => i.finding_ids.includes(critical.id));
    assert.ok(burst, 'the p3.16xlarge anomaly is in no incident: ' + JSON.stringify(incidents.map((i) => i.id)));
    assert.equal(burst.count, 4, 'the burst should be one incident of four launches');

    await step('overview shows the p3.16xlarge burst as one incident, not four rows', async () => {
      await page.goto(BASE + '/');
      const row = page.locator(`tr[data-incident-id="${burst.id}"]`);
      await row.waitFor();
      const text = await row.innerText();
      assert.match(text, /critical/i);
      assert.match(text, /p3\.16xlarge/);
      assert.match(text, /4 findings/);
      assert.match(text, /ap-south-1/);
      assert.match(text, /\$824/);
      assert.match(text, /ci-deploy/);
      assert.match(text, /open/i);
      assert.equal(await page.locator('tbody tr', { hasText: 'p3.16xlarge' }).count(), 1,
        'the launches of the burst are listed one by one');
      const cards = await page.locator('.cards').innerText();
      assert.match(cards, /critical, open/);
      await page.screenshot({ path: path.join(SHOTS, 'overview.png'), fullPage: true });
    });

    await step('the incident page lists its findings and acts on all of them', async () => {
      await page.locator(`tr[data-incident-id="${burst.id}"] a.incident-link`).click();
      await page.getByRole('heading', { level: 1, name: /4 cost anomalies by ci-deploy/ }).waitFor();
      assert.match(await page.locator('#incident-at-stake').innerText(), /^\$824\.17\/hr at stake$/);
      for (const id of burst.finding_ids) await page.locator(`tr[data-finding-id="${id}"]`).waitFor();
      await page.getByRole('button', { name: 'Mark all expected' }).click();
      await page.locator('#incident-status [data-status="expected"]').waitFor();
      assert.match(await page.locator('#incident-action-result').innerText(), /4 of 4 findings changed/);
      assert.equal(await page.locator('tr[data-finding-id] [data-status="expected"]').count(), 4);
      await page.screenshot({ path: path.join(SHOTS, 'incident.png'), fullPage: true });
      const stored = await api('GET', '/v1/incidents/' + encodeURIComponent(burst.id));
      assert.deepEqual(stored.findings.map((f) => f.status), ['expected', 'expected', 'expected', 'expected']);
      // Undo, so that the next steps (and a rerun) start from open findings.
      const reopened = await api('PATCH', '/v1/incidents/' + encodeURIComponent(burst.id), { action: 'reopen' });
      assert.equal(reopened.status, 'open');
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
      assert.equal(await page.locator(`tr[data-incident-id="${burst.id}"]`).count(), 0);
      assert.equal(await page.locator('#severity').inputValue(), 'info');
    });

    await step('"Mark expected" on the finding page changes its status', async () => {
      await page.goto(BASE + '/#/incidents/' + encodeURIComponent(burst.id));
      await page.locator(`tr[data-finding-id="${critical.id}"] a.finding-link`).click();
      await page.getByRole('heading', { level: 1, name: /p3\.16xlarge/ }).waitFor();
      assert.equal(await page.locator('#finding-status [data-status]').getAttribute('data-status'), 'open');
      // Which price, and how old it was when the instances were launched (details.pricing).
      const basis = page.locator('[data-price-basis]');
      await basis.waitFor();
      assert.match(await basis.innerText(),
        /^(list price|estimated from \S+)(, [a-z0-9-]+ price by regional factor)? · prices of \d{4}(-\d{2}){0,2} \((less than a month|\d+ months?|\d+ years?) old\)$/);
      const notes = page.locator('.price-notes li');
      assert.ok(await notes.count() > 0, 'the price provenance is not on the finding page');
      // The decision log (GET /v1/events/{id}/decision): verdict, signals, policy.
      await page.locator('#decision-verdict').waitFor();
      assert.match(await page.locator('#decision-verdict').innerText(), /^score \d+(\.\d)?: critical$/);
      assert.ok(await page.locator('#decision-log tr[data-signal]').count() > 0, 'no signals in the decision log');
      assert.match(await page.locator('#decision-policy').innerText(), /^(sent to Slack|held: |not decided yet)/);
      await page.locator('#decision-log').screenshot({ path: path.join(SHOTS, 'finding-decision-log.png') });
      await page.getByRole('button', { name: 'Mark expected' }).click();
      await page.locator('#finding-status [data-status="expected"]').waitFor();
      await page.screenshot({ path: path.join(SHOTS, 'finding.png'), fullPage: true });
      const stored = await api('GET', '/v1/anomalies/' + encodeURIComponent(critical.id));
      assert.equal(stored.status, 'expected', 'the API does not have the new status');
      // The finding links to its incident, whose page shows the new status.
      await page.locator('#finding-incident').click();
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
      await page.getByRole('cell', { name, exact: true }).waitFor();
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

    await step('while alerts are paused every page says so, and "Resume alerts" lifts the pause', async () => {
      await page.goto(BASE + '/#/api-keys');
      assert.ok(await page.locator('#paused').isHidden(), 'a paused banner while nothing is paused');
      await api('PUT', '/v1/policies', { tenant: { panic_mode: true } });
      await page.goto(BASE + '/#/stacks');
      await page.reload();
      const banner = page.locator('#paused');
      await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
      assert.match(await banner.innerText(), /Alerts are paused\./);
      await page.screenshot({ path: path.join(SHOTS, 'paused.png'), fullPage: true });
      await page.getByRole('button', { name: 'Resume alerts' }).click();
      await banner.waitFor({ state: 'hidden', timeout: TIMEOUT });
      const policies = await api('GET', '/v1/policies');
      assert.notStrictEqual((policies.overrides.tenant || {}).panic_mode, true, 'still paused after Resume');
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

    // ------------------------------------------------------------ stack views (issue 16)
    // The demo declares stack web-prod (Terraform workspace of account 111122223333): its
    // security group, created by Terraform, was opened to 0.0.0.0/0:22 from the console.
    const driftScore = await api('GET', '/v1/drift-score');
    const webProd = driftScore.stacks.find((x) => x.stack_id === 'web-prod');
    assert.ok(webProd, 'the demo has no stack web-prod: ' + JSON.stringify(driftScore.stacks.map((x) => x.stack_id)));
    assert.ok(webProd.drift_score < 100, 'web-prod should have open drift: ' + JSON.stringify(webProd));
    const sgDrift = (await api('GET', '/v1/drift-events?limit=100')).items
      .find((f) => f.details && f.details.stack === 'web-prod' && /security-group/.test(f.resource_type));
    assert.ok(sgDrift, 'the demo has no security-group drift on web-prod');
    // `dd0c demo` moves its data by whole weeks into the last week (decision 1120): the
    // console change keeps its weekday and time of day, and is recent.
    const driftAge = Date.now() - Date.parse(sgDrift.event_time);
    assert.ok(driftAge >= 0 && driftAge < 7 * 24 * 3600 * 1000, 'the demo drift is not from the last week: ' + sgDrift.event_time);
    assert.equal(new Date(sgDrift.event_time).getUTCDay(), 6, 'the console change was on a Saturday: ' + sgDrift.event_time);
    const driftWhen = sgDrift.event_time.slice(0, 10) + ' 23:47 UTC';

    await step('the stack list shows the organisation score and each stack\'s score and trend', async () => {
      await page.goto(BASE + '/#/stacks');
      const row = page.locator('tr[data-stack-id="web-prod"]');
      await row.waitFor();
      const score = String(Math.round(webProd.drift_score));
      assert.equal(await row.locator('.stack-score [data-score]').getAttribute('data-score'), score);
      assert.match(await row.locator('.stack-score').innerText(), /critical open/);
      const trend = await row.locator('.stack-trend [data-trend]').getAttribute('data-trend');
      assert.match(trend, new RegExp('(steady at|to) ' + score + ' since \\d{4}-\\d\\d-\\d\\d'));
      assert.equal(await row.locator('.stack-trend svg polyline').count(), 1);
      const org = page.locator('#org-score');
      assert.equal(await org.getAttribute('data-score'), String(driftScore.score));
      assert.match(await org.innerText(), /organisation drift score/);
      assert.match(await page.locator('.cards').innerText(), /watched stacks/);
      await page.screenshot({ path: path.join(SHOTS, 'stacks-list.png'), fullPage: true });
    });

    await step('a stack page shows its timeline: who, when, from where, and the diff', async () => {
      await page.goto(BASE + '/#/stacks');
      await page.locator('tr[data-stack-id="web-prod"] a.stack-link').click();
      await page.getByRole('heading', { level: 1, name: 'web-prod' }).waitFor();
      assert.equal(await page.locator('#stack-score').getAttribute('data-score'), String(webProd.drift_score));
      const entries = page.locator('#stack-timeline > li');
      await entries.first().waitFor();
      const driftEntry = page.locator(`#stack-timeline > li[data-finding-id="${sgDrift.id}"]`);
      const text = await driftEntry.innerText();
      assert.match(text, /AuthorizeSecurityGroupIngress/);
      assert.match(text, /aws_security_group\.web/);
      assert.match(text, /jane\.doe@example\.com/);
      assert.match(text, /via console/);
      assert.match(text, /from 203\.0\.113\.77/);
      assert.ok(text.includes(driftWhen), 'the timeline entry does not say ' + driftWhen + ': ' + text);
      assert.match(text, /critical/i);
      const line = driftEntry.locator('table.diff tr[data-attribute="ingress"]');
      const cells = line.locator('td');
      assert.match(await cells.nth(0).innerText(), /absent/);
      assert.match(await cells.nth(1).innerText(), /0\.0\.0\.0\/0/);
      assert.deepEqual(await driftEntry.locator('table.diff thead th').allTextContents(), ['Attribute', 'IaC expected', 'Observed']);
      // The Terraform apply that created the group is there too, older.
      const kinds = await entries.evaluateAll((els) => els.map((e) => e.dataset.kind));
      assert.equal(kinds[0], 'drift', 'newest first: ' + kinds);
      const create = entries.filter({ hasText: 'CreateSecurityGroup' });
      assert.equal(await create.count(), 1);
      assert.match(await create.innerText(), /IaC change[\s\S]*via Terraform[\s\S]*from 198\.51\.100\.24/i);
      await page.screenshot({ path: path.join(SHOTS, 'stack.png'), fullPage: true });
    });

    await step('owner, channel and watching are saved from the stack page', async () => {
      await page.goto(BASE + '/#/stacks/web-prod');
      await page.locator('#stack-settings').waitFor();
      await page.fill('#stack-channel', 'Web Alerts');
      await page.getByRole('button', { name: 'Save' }).click();
      const error = await page.locator('#stack-settings-status [role=alert]').innerText();
      assert.match(error, /Error 400/);
      assert.match(error, /slack_channel/);
      await page.fill('#stack-owner', 'team-web');
      await page.fill('#stack-channel', '#web-alerts');
      await page.uncheck('#stack-watching');
      await page.getByRole('button', { name: 'Save' }).click();
      assert.match(await page.locator('#stack-settings-status [role=status]').innerText(), /owner team-web.*#web-alerts.*watching off/);
      const stored = await api('GET', '/v1/stacks/web-prod');
      assert.deepEqual([stored.owner, stored.slack_channel, stored.stack.enabled], ['team-web', '#web-alerts', false]);
      // The list follows: watching off, and the stack no longer counts in the organisation's score.
      await page.goto(BASE + '/#/stacks');
      const row = page.locator('tr[data-stack-id="web-prod"]');
      await row.waitFor();
      assert.equal(await row.getByRole('button', { name: 'Watching web-prod' }).getAttribute('aria-pressed'), 'false');
      assert.match(await row.innerText(), /owner team-web/);
      const after = await api('GET', '/v1/drift-score');
      assert.equal(await page.locator('#org-score').getAttribute('data-score'), String(after.score));
      assert.equal(after.stacks_watched, driftScore.stacks_watched - 1);
      await page.goto(BASE + '/#/stacks/web-prod');
      await page.locator('#stack-settings').waitFor();
      assert.equal(await page.inputValue('#stack-owner'), 'team-web');
      assert.equal(await page.inputValue('#stack-channel'), '#web-alerts');
      assert.equal(await page.isChecked('#stack-watching'), false);
      await page.screenshot({ path: path.join(SHOTS, 'stack-settings.png'), fullPage: true });
      // Undo, so that a rerun against the same server starts from the same state.
      await api('PATCH', '/v1/stacks/web-prod', { owner: '', slack_channel: '', enabled: true });
    });

    await step('a drift finding page shows the diff and the IaC change to copy', async () => {
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
      await page.goto(BASE + '/#/findings/' + encodeURIComponent(sgDrift.id));
      await page.locator('#diff-h').waitFor();
      const line = page.locator('table.diff tr[data-attribute="ingress"] td');
      assert.match(await line.nth(0).innerText(), /absent/);
      assert.match(await line.nth(1).innerText(), /"cidr": "0\.0\.0\.0\/0"/);
      const stackLine = await page.locator('#finding-stack').innerText();
      assert.match(stackLine, /web-prod/);
      assert.match(stackLine, /aws_security_group\.web/);
      const codify = page.locator('.codify').first();
      assert.equal(await codify.getAttribute('data-tool'), 'Terraform');
      const snippet = await codify.locator('pre').innerText();
      assert.equal(snippet, sgDrift.details.codify[0].snippet);
      assert.match(snippet, /aws_security_group\.web/);
      assert.match(snippet, /cidr_blocks = \["0\.0\.0\.0\/0"\]/);
      await codify.getByRole('button', { name: 'Copy' }).click();
      await codify.getByRole('status').filter({ hasText: 'Copied.' }).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippet);
      await page.screenshot({ path: path.join(SHOTS, 'finding-drift.png'), fullPage: true });
    });

    await step('a cost finding page says whether its resource is IaC-managed', async () => {
      await page.goto(BASE + '/#/findings/' + encodeURIComponent(critical.id));
      const iac = page.locator('#finding-iac');
      await iac.waitFor();
      assert.equal((await iac.innerText()).trim().startsWith(critical.details.iac.summary), true);
      assert.equal(await iac.getAttribute('data-managed'), String(critical.details.iac.managed));
      assert.equal(await page.locator('#diff-h').count(), 0, 'a cost finding has no drift diff');
    });

    await step('the diff viewer masks secrets', async () => {
      // An agent's report of a changed database password: ingest masks it, the page shows the mask.
      const key = (await api('POST', '/v1/api-keys', { name: 'drift-agent-' + Date.now() })).api_key;
      const r = await fetch(BASE + '/v1/drift-reports', {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          report_id: 'rep-dashboard-' + Date.now(), stack_id: 'web-prod', tool: 'terraform', account_id: '111122223333',
          drifts: [{ resource_address: 'aws_db_instance.main', resource_type: 'aws_db_instance', resource_id: 'web-db',
            attribute: 'password', old: 'hunter2-expected', new: 'hunter2-observed' }],
        }),
      });
      assert.ok(r.ok, 'the drift report was refused: ' + r.status + ' ' + await r.text());
      await page.goto(BASE + '/#/stacks/web-prod');
      const entry = page.locator('#stack-timeline > li', { hasText: 'aws_db_instance.main' });
      await entry.first().waitFor();
      const text = await entry.first().innerText();
      assert.doesNotMatch(text, /hunter2/);
      assert.equal(await entry.first().locator('td.masked').count(), 2);
      assert.match(text, /masked/);
      // And in the browser, whatever the API sent: secret names and known masks.
      const masked = await page.evaluate(() => [
        window.dd0cDiff.showValue('master_user_password', 'plain').text,
        window.dd0cDiff.showValue('MasterUserPassword', 'plain').text,
        window.dd0cDiff.showValue('tags', { Name: 'web', api_token: 'ghp_x' }).text,
        window.dd0cDiff.showValue('user_data', 'HIDDEN_DUE_TO_SECURITY_REASONS').text,
        window.dd0cDiff.showValue('kms_key_id', 'alias/web').text,
        window.dd0cDiff.showValue('ingress', null).text,
      ]);
      const MASK = '•••••• (masked)';
      assert.deepEqual(masked, [MASK, MASK, JSON.stringify({ Name: 'web', api_token: MASK }, null, 2), MASK, 'alias/web', '— (absent)']);
      await page.screenshot({ path: path.join(SHOTS, 'stack-masked.png'), fullPage: true });
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
