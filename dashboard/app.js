// dd0c dashboard: thin static pages over the REST API (/v1/...). No build step, no framework.
// Production reads /config.json (written by the CDK app) and signs in through Cognito's hosted
// UI; `dd0c serve` answers /config.json with {"local": true} and hands out a local token.
'use strict';

(function () {
  const state = { config: null, token: null, me: null };

  // ---------------------------------------------------------------- DOM helpers (no innerHTML)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const main = () => document.getElementById('main');

  function banner(message, kind) {
    const b = document.getElementById('banner');
    if (!message) { b.hidden = true; b.textContent = ''; return; }
    b.hidden = false;
    b.className = 'banner banner-' + (kind || 'info');
    b.textContent = message;
  }

  // ---------------------------------------------------------------- formatting
  const SEVERITY_RANK = { critical: 5, high: 4, warning: 3, medium: 2, low: 1, info: 0 };
  function money(n) {
    if (n === null || n === undefined) return '—';
    // `+ 0` turns a -0 (a sum of nothing, or a rounding of -0.001) into 0: never "$-0.00".
    const v = Math.round(Number(n) * 100) / 100 + 0;
    return '$' + (Object.is(v, -0) ? 0 : v).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return d.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$|:\d\dZ$/, ' UTC');
  }
  // The person or thing behind an ARN: the session name of an assumed role (an SSO user's
  // email), the user name of an IAM user, else the ARN's last part.
  function actorName(arn) {
    if (!arn) return '—';
    const parts = arn.split(':').pop().split('/');
    if (parts[0] === 'assumed-role' && parts.length >= 3) return parts.slice(2).join('/');
    return parts.length > 1 ? parts.slice(1).join('/') : parts[0];
  }
  function actorRole(arn) {
    const parts = (arn || '').split(':').pop().split('/');
    return parts[0] === 'assumed-role' && parts.length >= 3 ? 'role ' + parts[1] : null;
  }
  function severityBadge(sev) {
    return h('span', { class: 'badge sev-' + sev }, sev);
  }
  function statusBadge(status) {
    return h('span', { class: 'status status-' + status, 'data-status': status }, status.replace('_', ' '));
  }
  // "15 months old": how old prices of `asOf` (YYYY, YYYY-MM or YYYY-MM-DD; a missing month
  // counts as January) were at `at`, as the alerts say it.
  function priceAge(asOf, at) {
    const m = /^(\d{4})(?:-(\d{2}))?/.exec(asOf || '');
    const t = new Date(at);
    if (!m || isNaN(t)) return null;
    const months = (t.getUTCFullYear() - Number(m[1])) * 12 + t.getUTCMonth() + 1 - Number(m[2] || 1);
    if (months <= 0) return 'less than a month old';
    if (months === 1) return '1 month old';
    if (months < 24) return months + ' months old';
    return Math.floor(months / 12) + ' years old';
  }
  // The price's basis and age, and its full provenance under a disclosure; null without one.
  function priceFacts(f) {
    const p = (f.details || {}).pricing;
    if (!p || !p.basis) return null;
    const age = p.as_of ? priceAge(p.as_of, f.event_time) : null;
    const text = p.basis + (p.as_of ? ' · prices of ' + p.as_of + (age ? ' (' + age + ')' : '') : '');
    const notes = p.notes || [];
    return h('span', { class: 'price-basis' }, h('span', { 'data-price-basis': '' }, text),
      notes.length ? h('details', { class: 'price-notes' }, h('summary', {}, 'How it was priced'),
        h('ul', {}, notes.map((n) => h('li', {}, n)))) : null);
  }
  function findingTitle(f) {
    const d = f.details || {};
    const what = d.sku ? d.sku + (d.count > 1 ? ' × ' + d.count : '') : f.resource_type;
    return f.event_name + ' · ' + what;
  }

  // ---------------------------------------------------------------- auth and API
  async function loadConfig() {
    const r = await fetch('/config.json', { cache: 'no-store' });
    if (!r.ok) throw new Error('config.json: HTTP ' + r.status);
    state.config = await r.json();
    state.config.apiUrl = String(state.config.apiUrl || '').replace(/\/+$/, '');
  }

  function tokenExpired(token) {
    try {
      const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return !claims.exp || claims.exp * 1000 < Date.now() + 30000;
    } catch (e) {
      return true;
    }
  }

  // Cognito hosted UI, authorization code flow with PKCE (RFC 7636). The verifier and the
  // state stay in this tab's sessionStorage: only this tab can redeem the code the redirect
  // brings back, and a redirect this tab did not start is refused.
  function cognitoDomain() {
    const c = state.config;
    const domain = String(c.cognitoDomain || '').replace(/\/+$/, '');
    if (!domain || !c.cognitoClientId) throw new Error('config.json has no Cognito settings');
    return domain;
  }

  function base64url(bytes) {
    return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function cognitoLogin() {
    const domain = cognitoDomain();
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(48))); // 64 characters
    const nonce = base64url(crypto.getRandomValues(new Uint8Array(24)));
    const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    sessionStorage.setItem('dd0c.pkce', JSON.stringify({ verifier, state: nonce, hash: location.hash }));
    const query = new URLSearchParams({
      response_type: 'code', client_id: state.config.cognitoClientId, redirect_uri: location.origin + '/',
      scope: 'openid email profile', state: nonce, code_challenge: challenge, code_challenge_method: 'S256',
    });
    location.assign(domain + '/oauth2/authorize?' + query);
  }

  // Back from the hosted UI with ?code=&state= (or ?error=): exchange the code for tokens.
  async function redeemCode(params) {
    const pending = JSON.parse(sessionStorage.getItem('dd0c.pkce') || 'null');
    sessionStorage.removeItem('dd0c.pkce');
    // The code must not linger in the address bar or the history.
    history.replaceState(null, '', location.pathname + ((pending && pending.hash) || location.hash || '#/'));
    if (params.get('error')) {
      throw new Error('sign-in failed: ' + params.get('error') +
        (params.get('error_description') ? ' (' + params.get('error_description') + ')' : ''));
    }
    if (!pending || params.get('state') !== pending.state) {
      throw new Error('sign-in failed: the answer does not match a sign-in started here; reload to sign in again');
    }
    const r = await fetch(cognitoDomain() + '/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', client_id: state.config.cognitoClientId, code: params.get('code'),
        redirect_uri: location.origin + '/', code_verifier: pending.verifier,
      }),
    });
    if (!r.ok) throw new Error('sign-in failed: the token endpoint answered HTTP ' + r.status + '; reload to sign in again');
    sessionStorage.setItem('dd0c.id_token', (await r.json()).id_token);
  }

  async function getToken(force) {
    if (!force && state.token && !tokenExpired(state.token)) return state.token;
    if (state.config.local) {
      // Only `dd0c serve` has this route; production has no such thing.
      const r = await fetch('/local/token', { cache: 'no-store' });
      if (!r.ok) throw new Error('local token: HTTP ' + r.status);
      state.token = (await r.json()).token;
      return state.token;
    }
    const params = new URLSearchParams(location.search);
    if (params.has('code') || params.has('error')) await redeemCode(params);
    const stored = sessionStorage.getItem('dd0c.id_token');
    if (stored && !force && !tokenExpired(stored)) {
      state.token = stored;
      return stored;
    }
    sessionStorage.removeItem('dd0c.id_token');
    await cognitoLogin();
    return new Promise(() => {}); // navigating away
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || 'HTTP ' + status);
      this.status = status;
      this.problem = problem || {};
    }
  }

  async function api(method, path, body, retried) {
    const token = await getToken(false);
    const init = { method, headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(state.config.apiUrl + path, init);
    if (r.status === 401 && !retried) {
      await getToken(true);
      return api(method, path, body, true);
    }
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!r.ok) throw new ApiError(r.status, json);
    return json;
  }

  function qs(params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) p.set(k, v);
    const s = p.toString();
    return s ? '?' + s : '';
  }

  function errorBox(e) {
    return h('div', { class: 'error', role: 'alert' },
      h('strong', {}, e.status ? 'Error ' + e.status + ': ' : 'Error: '), e.message,
      e.problem && e.problem.field ? h('span', { class: 'muted' }, ' (field: ' + e.problem.field + ')') : null);
  }

  // ---------------------------------------------------------------- pages
  function page(title, subtitle, ...content) {
    const m = main();
    const children = [h('h1', { tabindex: '-1', id: 'page-title' }, title),
      subtitle ? h('p', { class: 'subtitle' }, subtitle) : null, ...content];
    m.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
    document.title = title + ' — dd0c';
    document.getElementById('page-title').focus();
  }

  function findingsTable(items, caption) {
    if (!items.length) return h('p', { class: 'empty' }, 'Nothing here. dd0c is watching.');
    return h('div', { class: 'table-wrap' }, h('table', { class: 'findings' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {},
        ['Severity', 'Finding', '$/hr', 'Actor', 'Account · region', 'Time', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((f) => h('tr', { 'data-finding-id': f.id, 'data-kind': f.kind },
        h('td', {}, severityBadge(f.severity)),
        h('td', {},
          h('a', { href: '#/findings/' + encodeURIComponent(f.id), class: 'finding-link' }, findingTitle(f)),
          h('div', { class: 'muted small' }, f.kind === 'drift' ? 'drift · ' + (f.category || 'configuration') : 'cost anomaly')),
        h('td', { class: 'num' }, money(f.estimated_hourly_cost)),
        h('td', { class: 'actor', title: f.actor }, actorName(f.actor),
          actorRole(f.actor) ? h('div', { class: 'muted small truncate' }, actorRole(f.actor)) : null),
        h('td', {}, f.account_id, h('div', { class: 'muted small' }, f.region)),
        h('td', { class: 'nowrap' }, h('time', { datetime: f.event_time }, when(f.event_time))),
        h('td', {}, statusBadge(f.status)))))));
  }

  // The overview's rows: one per incident (decision 0530). An incident of one finding is that
  // finding's row; a burst or a sweep is one row with its count and total at stake, linking
  // to the incident's page.
  function incidentsTable(items, caption) {
    if (!items.length) return h('p', { class: 'empty' }, 'Nothing here. dd0c is watching.');
    const until = (i) => i.first_time === i.last_time ? null
      : h('div', { class: 'muted small' }, 'until ' + when(i.last_time).replace(when(i.first_time).slice(0, 11), ''));
    return h('div', { class: 'table-wrap' }, h('table', { class: 'findings incidents' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {},
        ['Severity', 'What happened', '$/hr', 'Actor', 'Account · region', 'Time', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((i) => {
        const lead = i.lead;
        const single = i.count === 1 && lead;
        const attrs = { 'data-incident-id': i.id, 'data-kind': i.kind, 'data-count': String(i.count) };
        if (single) attrs['data-finding-id'] = lead.id;
        const kindLine = i.kind === 'drift' ? 'drift · ' + (single ? (lead.category || 'configuration') : i.grouping) : 'cost anomaly' + (single ? '' : ' · burst');
        return h('tr', attrs,
          h('td', {}, severityBadge(i.severity)),
          h('td', {},
            single
              ? h('a', { href: '#/findings/' + encodeURIComponent(lead.id), class: 'finding-link' }, findingTitle(lead))
              : h('a', { href: '#/incidents/' + encodeURIComponent(i.id), class: 'incident-link' },
                (lead ? findingTitle(lead) + ' — ' : '') + i.count + ' findings'),
            h('div', { class: 'muted small' }, single ? kindLine : kindLine + ' · ' + i.title)),
          h('td', { class: 'num' }, i.kind === 'cost_anomaly' ? money(i.hourly_cost) : '—'),
          h('td', { class: 'actor', title: (lead && lead.actor) || '' }, lead ? actorName(lead.actor) : (i.actors[0] || '—'),
            i.actors.length > 1 ? h('div', { class: 'muted small' }, '+' + (i.actors.length - 1) + ' more')
              : (lead && actorRole(lead.actor) ? h('div', { class: 'muted small truncate' }, actorRole(lead.actor)) : null)),
          h('td', {}, i.account_id, h('div', { class: 'muted small' }, i.regions.join(', '))),
          h('td', { class: 'nowrap' }, h('time', { datetime: i.first_time }, when(i.first_time)), until(i)),
          h('td', {}, statusBadge(i.status)));
      }))));
  }

  function select(id, label, options, value) {
    return h('div', { class: 'field' }, h('label', { for: id }, label),
      h('select', { id, name: id }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
  }

  async function overview(params) {
    const filters = {
      kind: params.get('kind') || '', severity: params.get('severity') || '',
      status: params.get('status') || '', account: params.get('account') || '',
    };
    const form = h('form', { class: 'filters', 'aria-label': 'Filter findings', onsubmit: (ev) => {
      ev.preventDefault();
      const data = new FormData(ev.target);
      const p = {};
      for (const [k, v] of data.entries()) if (v) p[k] = v;
      location.hash = '#/' + qs(p);
    } },
    select('kind', 'Type', [['', 'All'], ['cost_anomaly', 'Cost anomalies'], ['drift', 'Drift events']], filters.kind),
    select('severity', 'Severity', [['', 'Any'], ['critical', 'Critical'], ['high', 'High'], ['warning', 'Warning'], ['medium', 'Medium'], ['low', 'Low'], ['info', 'Info']], filters.severity),
    select('status', 'Status', [['', 'Any'], ['open', 'Open'], ['expected', 'Expected'], ['snoozed', 'Snoozed'], ['resolved', 'Resolved']], filters.status),
    h('div', { class: 'field' }, h('label', { for: 'account' }, 'AWS account'),
      h('input', { id: 'account', name: 'account', inputmode: 'numeric', pattern: '\\d{12}', placeholder: '12 digits', value: filters.account })),
    h('button', { type: 'submit', class: 'btn' }, 'Apply'),
    h('a', { href: '#/', class: 'btn btn-ghost' }, 'Clear'));

    const cards = h('section', { class: 'cards', 'aria-label': 'Summary' });
    const list = h('section', { 'aria-labelledby': 'findings-h' }, h('h2', { id: 'findings-h' }, 'Incidents'));
    page('Overview', 'Cost anomalies and infrastructure drift across your connected AWS accounts.', cards, form, list);

    const items = [];
    let next = null;
    const body = h('div', {});
    const more = h('button', { class: 'btn btn-ghost', type: 'button', hidden: true, onclick: () => load() }, 'Load more');
    list.append(body, more);

    async function load() {
      try {
        const pageData = await api('GET', '/v1/incidents' + qs({ ...filters, limit: '50', next }));
        items.push(...pageData.items);
        next = pageData.next || null;
        body.replaceChildren(incidentsTable(items, 'Incidents, newest first'));
        more.hidden = !next || pageData.items.length === 0;
        renderCards();
      } catch (e) {
        body.replaceChildren(errorBox(e));
      }
    }
    function renderCards() {
      const open = items.filter((i) => i.status === 'open');
      const critical = open.filter((i) => i.severity === 'critical').length;
      const perHour = open.filter((i) => i.kind === 'cost_anomaly')
        .reduce((s, i) => s + (i.hourly_cost || 0), 0);
      const drift = open.filter((i) => i.kind === 'drift').length;
      const card = (label, value, cls) => h('div', { class: 'card ' + (cls || '') },
        h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label));
      cards.replaceChildren(
        card('open incidents', String(open.length)),
        card('critical, open', String(critical), critical ? 'card-alert' : ''),
        card('open cost at risk', money(perHour) + '/hr', perHour > 0 ? 'card-warn' : ''),
        card('open drift incidents', String(drift)));
    }
    await load();
  }

  // One incident: what its findings share, the total at stake, actions on all of them, and
  // its findings (each with its own page).
  async function incidentDetail(id) {
    page('Incident', null, h('p', { class: 'loading' }, 'Loading…'));
    let i;
    try {
      i = await api('GET', '/v1/incidents/' + encodeURIComponent(id));
    } catch (e) {
      page('Incident', null, errorBox(e), h('p', {}, h('a', { href: '#/' }, '← Back to overview')));
      return;
    }
    const statusHolder = h('span', { id: 'incident-status' }, statusBadge(i.status));
    const snoozeDefault = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 16);
    const snoozeInput = h('input', { type: 'datetime-local', id: 'incident-snooze-until', value: snoozeDefault });
    const actionMsg = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', id: 'incident-action-result' });
    const buttons = h('div', { class: 'actions', role: 'group', 'aria-label': 'Act on every finding' });
    const members = h('section', { 'aria-labelledby': 'members-h' }, h('h2', { id: 'members-h' }, 'Its findings'),
      findingsTable(i.findings, 'The incident\'s findings'));

    async function act(action) {
      const body = { action };
      if (action === 'snooze') {
        if (!snoozeInput.value) { actionMsg.textContent = 'Pick a time to snooze until.'; return; }
        body.snooze_until = new Date(snoozeInput.value).toISOString();
      }
      for (const b of buttons.querySelectorAll('button')) b.disabled = true;
      try {
        const before = i.findings.map((f) => f.status);
        i = await api('PATCH', '/v1/incidents/' + encodeURIComponent(i.id), body);
        const changed = i.findings.filter((f, n) => f.status !== before[n]).length;
        statusHolder.replaceChildren(statusBadge(i.status));
        members.replaceChildren(h('h2', { id: 'members-h' }, 'Its findings'), findingsTable(i.findings, 'The incident\'s findings'));
        actionMsg.textContent = 'Incident is now ' + i.status + ': ' + changed + ' of ' + i.findings.length + ' findings changed'
          + (changed < i.findings.length ? ' (the others were acted on alone and stay as they are)' : '') + '.';
      } catch (e) {
        actionMsg.replaceChildren(errorBox(e));
      } finally {
        for (const b of buttons.querySelectorAll('button')) b.disabled = false;
      }
    }
    buttons.append(
      h('button', { type: 'button', class: 'btn', onclick: () => act('mark_expected') }, 'Mark all expected'),
      h('span', { class: 'snooze' }, h('label', { for: 'incident-snooze-until' }, 'Snooze all until'), snoozeInput,
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => act('snooze') }, 'Snooze all')),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => act('resolve') }, 'Resolve all'),
      h('button', { type: 'button', class: 'btn btn-link', onclick: () => act('reopen') }, 'Reopen all'));
    const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    page(i.title, null,
      h('p', {}, h('a', { href: '#/' }, '← Back to overview')),
      h('div', { class: 'detail-head' }, severityBadge(i.severity), ' ', statusHolder,
        i.kind === 'cost_anomaly' ? h('span', { class: 'cost', id: 'incident-at-stake' }, money(i.hourly_cost) + '/hr at stake') : null),
      buttons, actionMsg,
      h('section', { 'aria-labelledby': 'incident-facts-h' }, h('h2', { id: 'incident-facts-h' }, 'What its findings share'),
        h('dl', { class: 'facts' },
          row('Grouping', i.grouping === 'burst' ? 'a burst by one principal' : i.grouping === 'sweep' ? 'changes across stack ' + i.stack : 'one principal\'s changes'),
          row('Findings', String(i.count) + (i.count > i.findings.length ? ' (the first ' + i.findings.length + ' listed)' : '')),
          row('Resources', String(i.resource_count)),
          row('Who', i.actors.join(', ') || '—'),
          row('Account', i.account_id), row('Regions', i.regions.join(', ')),
          row('From', when(i.first_time)), row('To', when(i.last_time)))),
      members);
  }

  async function findingDetail(id) {
    page('Finding', null, h('p', { class: 'loading' }, 'Loading…'));
    let f;
    try {
      f = await api('GET', '/v1/anomalies/' + encodeURIComponent(id));
    } catch (e) {
      page('Finding', null, errorBox(e), h('p', {}, h('a', { href: '#/' }, '← Back to overview')));
      return;
    }
    const statusHolder = h('span', { id: 'finding-status' }, statusBadge(f.status));
    const snoozeDefault = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 16);
    const snoozeInput = h('input', { type: 'datetime-local', id: 'snooze-until', value: snoozeDefault });
    const actionMsg = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
    const buttons = h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' });

    async function act(action) {
      const body = { action };
      if (action === 'snooze') {
        if (!snoozeInput.value) { actionMsg.textContent = 'Pick a time to snooze until.'; return; }
        body.snooze_until = new Date(snoozeInput.value).toISOString();
      }
      for (const b of buttons.querySelectorAll('button')) b.disabled = true;
      try {
        f = await api('PATCH', '/v1/anomalies/' + encodeURIComponent(f.id), body);
        statusHolder.replaceChildren(statusBadge(f.status));
        actionMsg.textContent = 'Status is now ' + f.status + (f.snooze_until ? ' until ' + when(f.snooze_until) : '') + '.';
      } catch (e) {
        actionMsg.replaceChildren(errorBox(e));
      } finally {
        for (const b of buttons.querySelectorAll('button')) b.disabled = false;
      }
    }
    buttons.append(
      h('button', { type: 'button', class: 'btn', onclick: () => act('mark_expected') }, 'Mark expected'),
      h('span', { class: 'snooze' }, h('label', { for: 'snooze-until' }, 'Snooze until'), snoozeInput,
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => act('snooze') }, 'Snooze')),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => act('resolve') }, 'Resolve'),
      h('button', { type: 'button', class: 'btn btn-link', onclick: () => act('reopen') }, 'Reopen'));

    const row = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    const price = priceFacts(f);
    page(findingTitle(f), null,
      h('p', {}, h('a', { href: '#/' }, '← Back to overview')),
      h('div', { class: 'detail-head' }, severityBadge(f.severity), ' ', statusHolder,
        f.estimated_hourly_cost !== null ? h('span', { class: 'cost' }, money(f.estimated_hourly_cost) + '/hr') : null),
      buttons, actionMsg,
      h('div', { class: 'detail-grid' },
        h('section', { 'aria-labelledby': 'why-h' }, h('h2', { id: 'why-h' }, 'Why dd0c flagged it'),
          h('ul', { class: 'reasons' }, (f.reasons || []).map((r) => h('li', {}, r)))),
        h('section', { 'aria-labelledby': 'facts-h' }, h('h2', { id: 'facts-h' }, 'Details'),
          h('dl', { class: 'facts' },
            row('Type', f.kind === 'drift' ? 'Drift (' + (f.category || 'configuration') + ')' : 'Cost anomaly'),
            row('Event', f.event_name + ' (' + f.event_id + ')'),
            ...(f.incident_id ? row('Incident', h('a', { href: '#/incidents/' + encodeURIComponent(f.incident_id), id: 'finding-incident' }, 'every finding of its incident')) : []),
            row('Actor', f.actor),
            row('Account', f.account_id), row('Region', f.region),
            row('Time', when(f.event_time)),
            row('Resource', f.resource_type + ': ' + ((f.resource_ids || []).join(', ') || '—')),
            row('Score', String(f.score)),
            ...(price ? row('Price', price) : []),
            row('Notified', f.notified ? 'yes' : 'no' + (f.suppressed_reason ? ' — ' + f.suppressed_reason : ''))))));
    main().append(...findingIacSections(f), decisionSection(f));
  }

  // The finding's decision log (GET /v1/events/{id}/decision): the verdict, the signals and
  // what each did to the score, the baseline before the event, the thresholds, the price; for
  // drift the change class, the evidence that IaC owns the resource and the rules; then what
  // the policy made of it.
  function decisionSection(f) {
    const box = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Loading…'));
    const section = h('section', { 'aria-labelledby': 'decision-h', id: 'decision-log' },
      h('h2', { id: 'decision-h' }, 'Decision log'), box);
    const effect = (s) => ({ adds: '+' + s.value + ' points', at_least: 'score at least ' + s.value,
      times: '× ' + s.value, minus: '−' + s.value + ' points' }[s.effect] || String(s.value));
    const facts = (pairs) => h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
    (async () => {
      try {
        const d = await api('GET', '/v1/events/' + encodeURIComponent(f.event_id) + '/decision');
        const mine = (d.findings || []).find((x) => x.finding_id === f.id) || (d.findings || [])[0];
        const log = (mine && mine.decision) || {};
        const out = [h('p', { id: 'decision-verdict' }, log.verdict || 'No decision log was recorded for this finding.')];
        if (log.stage === 'scorer') {
          out.push(h('table', { class: 'signals' }, h('caption', {}, 'Signals'),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Signal'), h('th', { scope: 'col' }, 'Effect'))),
            h('tbody', {}, (log.signals || []).map((s) => h('tr', { 'data-signal': s.name }, h('td', {}, h('code', {}, s.name)), h('td', {}, effect(s)))))));
          const b = log.baseline || {};
          out.push(h('h3', {}, 'Baseline before the event'), facts([
            ['Account age (days)', b.account_age_days], ['Cost events in the account', b.account_cost_events],
            ['Known regions', b.known_regions], ['Known principals', b.known_principals],
            ['Events of this type', b.type_cost_events], ['Mean of this type ($/hr)', b.type_mean_usd_per_hour],
            ['Largest of this type ($/hr)', b.type_max_usd_per_hour], ['Recent calls by this principal', b.recent_calls_by_actor],
            ['Still learning', log.learning ? 'yes (cold-start thresholds)' : 'no'], ['Routine for this principal', log.routine ? 'yes' : 'no']]));
          const t = log.thresholds || {};
          out.push(h('h3', {}, 'Thresholds'), facts([
            ['Score bands', t.score ? 'info ≥ ' + t.score.info + ', warning ≥ ' + t.score.warning + ', critical ≥ ' + t.score.critical : null],
            ['Fast path ($/hr)', t.fast_path_usd_per_hour ? t.fast_path_usd_per_hour.warning + ' / ' + t.fast_path_usd_per_hour.critical : null],
            ['z-score', t.zscore], ['Scale jump (× mean)', t.scale_jump_factor]]));
          if (log.price && log.price.basis) out.push(h('p', { class: 'small' }, 'Price: ', log.price.basis, log.price.as_of ? ' (prices of ' + log.price.as_of + ')' : ''));
        } else if (log.stage === 'classifier') {
          out.push(facts([['Why it is drift', log.change_class], ['IaC owns it on the evidence of', (log.managed || {}).evidence],
            ['Stack', (log.managed || {}).stack], ['Rules matched', (log.rules || []).join(', ')]]));
        }
        if (mine && mine.policy) {
          const p = mine.policy;
          out.push(h('h3', {}, 'Policy'), h('p', { id: 'decision-policy' }, p.decision), facts([
            ['Sent at once from', p.immediate_severity], ['Governance mode', p.governance_mode]]));
        }
        box.replaceChildren(...out);
      } catch (e) {
        box.replaceChildren(errorBox(e));
      }
    })();
    return section;
  }

  async function accounts() {
    const usage = h('section', { class: 'cards', 'aria-label': 'Plan and usage' });
    const connect = h('section', { 'aria-labelledby': 'connect-h', class: 'panel' });
    const list = h('section', { 'aria-labelledby': 'accounts-h' }, h('h2', { id: 'accounts-h' }, 'Connected accounts'));
    page('AWS accounts', 'dd0c reads your accounts through a read-only role you create with one CloudFormation stack.', usage, connect, list);

    try {
      const me = await api('GET', '/v1/me');
      usage.replaceChildren(
        h('div', { class: 'card' }, h('div', { class: 'card-value', id: 'usage-summary' }, me.usage.summary), h('div', { class: 'card-label' }, 'on the ' + me.plan + ' plan')),
        me.plan === 'free' ? h('div', { class: 'card' }, h('button', { class: 'btn', type: 'button', onclick: upgrade }, 'Upgrade to Pro'), h('div', { class: 'card-label' }, 'per-account pricing')) : null);
    } catch (e) {
      usage.replaceChildren(errorBox(e));
    }

    const out = h('div', { 'aria-live': 'polite' });
    connect.append(h('h2', { id: 'connect-h' }, 'Connect an AWS account'),
      h('p', {}, 'Creates a new External ID and a CloudFormation quick-create link for the dd0c read-only role.'),
      h('button', { type: 'button', class: 'btn', id: 'connect-account', onclick: setup }, 'Connect AWS account'), out);

    async function setup() {
      try {
        const s = await api('POST', '/v1/accounts/setup');
        const roleForm = h('form', { class: 'inline-form', onsubmit: finish },
          h('div', { class: 'field' }, h('label', { for: 'aws-account-id' }, 'AWS account ID'),
            h('input', { id: 'aws-account-id', name: 'aws_account_id', required: true, pattern: '\\d{12}', inputmode: 'numeric' })),
          h('div', { class: 'field grow' }, h('label', { for: 'role-arn' }, 'RoleArn output of the stack'),
            h('input', { id: 'role-arn', name: 'role_arn', required: true, placeholder: 'arn:aws:iam::123456789012:role/…' })),
          h('button', { type: 'submit', class: 'btn' }, 'Verify and connect'));
        out.replaceChildren(h('ol', { class: 'steps' },
          h('li', {}, h('a', { href: s.quick_create_url, target: '_blank', rel: 'noopener noreferrer', id: 'quick-create-link' }, 'Open the CloudFormation quick-create link'),
            ' in the account to connect (stack ', h('code', {}, s.stack_name), ', region ', h('code', {}, s.region), ').'),
          h('li', {}, 'External ID (already filled in): ', h('code', { id: 'external-id' }, s.external_id)),
          h('li', {}, 'When the stack is complete, paste its RoleArn output:', roleForm)));
      } catch (e) {
        const upgradeBtn = e.problem && e.problem.code === 'upgrade_required'
          ? h('button', { class: 'btn', type: 'button', onclick: upgrade }, 'Upgrade to Pro') : null;
        out.replaceChildren(errorBox(e), upgradeBtn);
      }
    }
    async function finish(ev) {
      ev.preventDefault();
      const data = new FormData(ev.target);
      try {
        const r = await api('POST', '/v1/accounts', { aws_account_id: data.get('aws_account_id'), role_arn: data.get('role_arn') });
        const z = r.zombie_scan;
        // replaceChildren would print a null as text: only real nodes go in.
        out.replaceChildren(...[h('p', { class: 'ok' }, 'Connected ' + r.account.account_id + '.'),
          z ? h('p', {}, 'Zombie scan: ' + z.zombies.length + ' idle resources, ' + money(z.monthly_waste_usd) + '/month.') : null,
          r.zombie_scan_error ? h('p', { class: 'muted' }, 'Zombie scan did not run: ' + r.zombie_scan_error) : null]
          .filter((c) => c !== null));
        loadAccounts();
      } catch (e) {
        out.append(errorBox(e));
      }
    }
    async function loadAccounts() {
      try {
        const a = await api('GET', '/v1/accounts?limit=100');
        list.replaceChildren(list.firstChild, a.items.length ? h('div', { class: 'table-wrap' }, h('table', {},
          h('caption', { class: 'sr-only' }, 'Connected AWS accounts'),
          h('thead', {}, h('tr', {}, ['Account', 'Status', 'Role', 'Connected', 'History', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, a.items.map((acc) => h('tr', {},
            h('td', {}, acc.account_id), h('td', {}, statusBadge(acc.status)),
            h('td', { class: 'small' }, acc.role_arn || '—'), h('td', {}, when(acc.connected_at)),
            backfillCell(acc.account_id),
            h('td', {}, acc.status !== 'disconnecting' ? h('button', { class: 'btn btn-link', type: 'button', onclick: async () => {
              if (!confirm('Disconnect ' + acc.account_id + '? Its data is deleted after 72 hours.')) return;
              try { await api('DELETE', '/v1/accounts/' + acc.account_id); loadAccounts(); } catch (e) { banner(e.message, 'error'); }
            } }, 'Disconnect') : null)))))) : h('p', { class: 'empty' }, 'No accounts connected yet.'));
      } catch (e) {
        list.replaceChildren(list.firstChild, errorBox(e));
      }
    }
    await loadAccounts();
  }

  /** The backfill of an account's last 90 days of CloudTrail history: how far, and what it cost. */
  function backfillCell(accountId) {
    const cell = h('td', { class: 'small', id: 'backfill-' + accountId, 'aria-live': 'polite' }, '…');
    api('GET', '/v1/accounts/' + accountId + '/backfill').then((b) => {
      cell.dataset.status = b.status;
      const cost = b.requests + ' requests' + (b.throttled ? ' (' + b.throttled + ' throttled)' : '');
      const capped = b.regions.filter((r) => r.status === 'capped').map((r) => r.region);
      const failed = b.regions.filter((r) => r.status === 'failed');
      const lines = b.status === 'not_started'
        ? ['Not read yet']
        : [(b.status === 'done' ? 'Read: ' : 'Reading: ') + b.regions_finished + '/' + b.regions_total + ' regions, '
            + b.events.toLocaleString('en-US') + ' events (' + b.cost_events.toLocaleString('en-US') + ' cost)',
          (b.history_since ? 'since ' + when(b.history_since) + ' · ' : '') + cost,
          capped.length ? 'Stopped at the page cap in ' + capped.join(', ') : null,
          failed.length ? 'Not read in ' + failed.map((r) => r.region + ': ' + (r.error || 'failed')).join('; ') : null];
      cell.replaceChildren(...lines.filter((l) => l !== null).map((l) => h('div', {}, l)));
    }).catch((e) => cell.replaceChildren(h('span', { class: 'muted' }, 'unavailable: ' + e.message)));
    return cell;
  }

  async function upgrade() {
    try {
      const r = await api('POST', '/v1/billing/checkout', { accounts: 2 });
      location.assign(r.url);
    } catch (e) {
      banner('Checkout failed: ' + e.message, 'error');
    }
  }

  // ---------------------------------------------------------------- stacks and drift
  function scoreBadge(score) {
    const v = Math.round(Number(score));
    const cls = v >= 90 ? 'score-good' : v >= 70 ? 'score-fair' : 'score-poor';
    return h('span', { class: 'score ' + cls, 'data-score': String(v) }, String(v));
  }

  function openDriftText(open) {
    const parts = Object.entries(open || {}).filter(([, n]) => n > 0)
      .sort((a, b) => (SEVERITY_RANK[b[0]] || 0) - (SEVERITY_RANK[a[0]] || 0))
      .map(([sev, n]) => n + ' ' + sev);
    return parts.length ? parts.join(', ') + ' open' : 'no open drift';
  }

  // A 14-day trend: a small line (decorative) and the words a screen reader gets.
  function trendView(trend) {
    const known = (trend || []).filter((d) => d.score !== null && d.score !== undefined);
    if (!known.length) return h('span', { class: 'muted small trend' }, 'no score yet');
    const first = known[0];
    const last = known[known.length - 1];
    const delta = Math.round(last.score - first.score);
    const words = delta === 0 ? 'steady at ' + Math.round(last.score)
      : (delta > 0 ? 'up ' : 'down ') + Math.abs(delta) + ' to ' + Math.round(last.score);
    const label = words + ' since ' + first.day;
    const width = 112;
    const height = 24;
    const step = trend.length > 1 ? width / (trend.length - 1) : width;
    const points = trend.map((d, i) => d.score === null || d.score === undefined ? null
      : (i * step).toFixed(1) + ',' + (height - 2 - (d.score / 100) * (height - 4)).toFixed(1)).filter(Boolean);
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'sparkline');
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.append(line);
    return h('span', { class: 'trend', 'data-trend': label }, svg,
      h('span', { class: 'small ' + (delta < 0 ? 'trend-down' : delta > 0 ? 'trend-up' : 'muted') },
        (delta < 0 ? '↓ ' : delta > 0 ? '↑ ' : '→ ') + label));
  }

  function stackLink(id, name) {
    return h('a', { href: '#/stacks/' + encodeURIComponent(id), class: 'stack-link' }, name || id);
  }

  // One side of a diff line, masked by dd0cDiff (diff.js).
  function diffCell(attribute, value) {
    const shown = window.dd0cDiff.showValue(attribute, value);
    return h('td', { class: 'diff-value' + (shown.absent ? ' muted' : '') + (shown.masked ? ' masked' : '') },
      h('pre', {}, h('code', {}, shown.text)));
  }

  // Attribute by attribute: for drift the value IaC expects (old) and the value observed (new).
  function diffTable(changes, caption, labels) {
    const [before, after] = labels || ['IaC expected', 'Observed'];
    if (!changes || !changes.length) return h('p', { class: 'muted' }, 'No attribute-level change recorded.');
    return h('div', { class: 'table-wrap' }, h('table', { class: 'diff' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, ['Attribute', before, after].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, changes.map((c) => h('tr', { 'data-attribute': c.attribute },
        h('th', { scope: 'row' }, h('code', {}, c.attribute)), diffCell(c.attribute, c.old), diffCell(c.attribute, c.new))))));
  }

  async function stacks() {
    const summary = h('section', { class: 'cards', 'aria-label': 'Organisation drift score' });
    const list = h('section', { 'aria-labelledby': 'stacks-h' }, h('h2', { id: 'stacks-h' }, 'Stacks'));
    const add = h('details', { class: 'panel' }, h('summary', {}, 'Add a stack'));
    const drift = h('section', { 'aria-labelledby': 'drift-h' }, h('h2', { id: 'drift-h' }, 'Drift events'));
    page('Stacks & drift', 'Infrastructure-as-code stacks dd0c compares against what actually changed.', summary, list, add, drift);

    const msg = h('p', { role: 'status', 'aria-live': 'polite' });
    add.append(h('form', { class: 'inline-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const d = new FormData(ev.target);
      const body = { name: d.get('name'), iac_tool: d.get('iac_tool'), account_id: d.get('account_id'), region: d.get('region') };
      if (d.get('state_location')) body.state_location = d.get('state_location');
      try { await api('POST', '/v1/stacks', body); msg.textContent = 'Stack added.'; ev.target.reset(); loadStacks(); } catch (e) { msg.replaceChildren(errorBox(e)); }
    } },
    h('div', { class: 'field' }, h('label', { for: 'stack-name' }, 'Name'), h('input', { id: 'stack-name', name: 'name', required: true })),
    select('iac_tool', 'Tool', [['terraform', 'Terraform'], ['cloudformation', 'CloudFormation'], ['cdk', 'CDK'], ['pulumi', 'Pulumi']], 'terraform'),
    h('div', { class: 'field' }, h('label', { for: 'stack-account' }, 'AWS account'), h('input', { id: 'stack-account', name: 'account_id', required: true, pattern: '\\d{12}' })),
    h('div', { class: 'field' }, h('label', { for: 'stack-region' }, 'Region'), h('input', { id: 'stack-region', name: 'region', required: true, placeholder: 'us-east-1' })),
    h('div', { class: 'field grow' }, h('label', { for: 'stack-state' }, 'State location (optional)'), h('input', { id: 'stack-state', name: 'state_location', placeholder: 's3://bucket/key.tfstate' })),
    h('button', { type: 'submit', class: 'btn' }, 'Add stack')), msg);

    function renderSummary(score) {
      const card = (label, value, attrs) => h('div', { class: 'card', ...(attrs || {}) },
        h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label));
      summary.replaceChildren(
        card('organisation drift score (100 = no open drift)', scoreBadge(score.score), { id: 'org-score', 'data-score': String(score.score) }),
        card('watched stacks · managed resources', score.stacks_watched + ' · ' + score.managed_resources),
        card('open drift', openDriftText(score.open_drift)),
        card('last 14 days', trendView(score.trend), { id: 'org-trend' }));
    }

    async function loadStacks() {
      try {
        const [s, score] = await Promise.all([api('GET', '/v1/stacks?limit=100'), api('GET', '/v1/drift-score')]);
        renderSummary(score);
        const scores = new Map(score.stacks.map((x) => [x.stack_id, x]));
        list.replaceChildren(list.firstChild, s.items.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stacks' },
          h('caption', { class: 'sr-only' }, 'Stacks with their drift score and 14-day trend'),
          h('thead', {}, h('tr', {}, ['Name', 'Tool', 'Account · region', 'Drift score', 'Trend (14 days)', 'Watching'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, s.items.map((st) => {
            const sc = scores.get(st.stack_id);
            return h('tr', { 'data-stack-id': st.stack_id },
              h('td', {}, stackLink(st.stack_id, st.name), sc && sc.owner ? h('div', { class: 'muted small' }, 'owner ' + sc.owner) : null),
              h('td', {}, st.iac_tool),
              h('td', {}, (st.account_id || '—') + ' · ' + (st.region || '—')),
              h('td', { class: 'stack-score' }, sc ? scoreBadge(sc.drift_score) : '—',
                sc ? h('div', { class: 'muted small' }, openDriftText(sc.open_drift)) : null),
              h('td', { class: 'stack-trend' }, sc ? trendView(sc.trend) : '—'),
              h('td', {}, h('button', { type: 'button', class: 'btn btn-link', 'aria-pressed': String(st.enabled),
                'aria-label': 'Watching ' + st.name, onclick: async () => {
                  try { await api('PATCH', '/v1/stacks/' + encodeURIComponent(st.stack_id), { enabled: !st.enabled }); loadStacks(); } catch (e) { banner(e.message, 'error'); }
                } }, st.enabled ? 'On' : 'Off')));
          })))) : h('p', { class: 'empty' }, 'No stacks yet. Drift events still show what changed outside your IaC.'));
      } catch (e) {
        list.replaceChildren(list.firstChild, errorBox(e));
      }
    }
    try {
      const d = await api('GET', '/v1/drift-events?limit=100');
      drift.append(findingsTable(d.items, 'Drift events, newest first'));
    } catch (e) {
      drift.append(errorBox(e));
    }
    await loadStacks();
  }

  function timelineEntry(e) {
    const drift = e.kind === 'drift';
    const what = (e.action || (drift ? 'Drift reported by an agent' : 'Change')) + ' · ' +
      (e.resource_address || e.resource_type + ' ' + e.resource_id);
    const who = [e.who ? h('span', { class: 'who' }, e.who) : h('span', { class: 'muted' }, 'unknown')];
    if (e.via) who.push(' via ', h('span', { class: 'via' }, e.via));
    if (e.source_ip) who.push(' from ', h('span', { class: 'ip' }, e.source_ip));
    if (e.mfa === true) who.push(' · MFA');
    else if (e.mfa === false && e.via === 'console') who.push(' · no MFA');
    const kind = drift ? (e.severity ? severityBadge(e.severity) : h('span', { class: 'badge sev-info' }, 'drift'))
      : h('span', { class: 'badge kind-change' }, e.class === 'iac' ? 'IaC change' : (e.class || 'change'));
    const labels = drift ? ['IaC expected', 'Observed'] : ['Before', 'After'];
    return h('li', { class: 'timeline-entry' + (drift ? ' is-drift' : ''), 'data-kind': e.kind, 'data-finding-id': e.finding_id || null },
      h('div', { class: 'timeline-head' }, kind, ' ',
        h('time', { datetime: e.time, class: 'nowrap' }, when(e.time)), ' ',
        h('strong', {}, what),
        drift && e.status ? [' ', statusBadge(e.status)] : null),
      h('div', { class: 'small' }, 'By ', who),
      h('div', { class: 'muted small' }, e.resource_type + ' ' + e.resource_id),
      diffTable(e.changes, 'What changed in ' + e.resource_id, labels),
      drift && e.finding_id ? h('p', { class: 'small' }, h('a', { href: '#/findings/' + encodeURIComponent(e.finding_id) }, 'Open the finding →')) : null);
  }

  async function stackDetail(id) {
    page('Stack', null, h('p', { class: 'loading' }, 'Loading…'));
    let d;
    try {
      d = await api('GET', '/v1/stacks/' + encodeURIComponent(id));
    } catch (e) {
      page('Stack', null, errorBox(e), h('p', {}, h('a', { href: '#/stacks' }, '← Back to stacks')));
      return;
    }
    const st = d.stack;
    const saved = h('div', { id: 'stack-settings-status', 'aria-live': 'polite' });
    const form = h('form', { class: 'inline-form', id: 'stack-settings', 'aria-label': 'Owner, channel and watching', onsubmit: async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const body = {
        owner: String(f.get('owner') || '').trim(),
        slack_channel: String(f.get('slack_channel') || '').trim(),
        enabled: f.get('enabled') === 'on',
      };
      try {
        const changed = await api('PATCH', '/v1/stacks/' + encodeURIComponent(st.stack_id), body);
        saved.replaceChildren(h('p', { class: 'ok', role: 'status' }, 'Saved: ' +
          (body.owner ? 'owner ' + body.owner : 'no owner') + ', ' +
          (body.slack_channel ? 'alerts to ' + body.slack_channel : 'alerts to the default channel') + ', watching ' +
          (changed.enabled ? 'on' : 'off') + '.'));
      } catch (e) { saved.replaceChildren(errorBox(e)); }
    } },
    h('div', { class: 'field' }, h('label', { for: 'stack-owner' }, 'Owner (Slack user id or name)'),
      h('input', { id: 'stack-owner', name: 'owner', maxlength: '128', value: d.owner || '', placeholder: 'U012AB3CD or team-web' })),
    h('div', { class: 'field' }, h('label', { for: 'stack-channel' }, 'Slack channel'),
      h('input', { id: 'stack-channel', name: 'slack_channel', value: d.slack_channel || '', placeholder: '#web-alerts' })),
    h('div', { class: 'field checkbox' }, h('label', { for: 'stack-watching' },
      h('input', { type: 'checkbox', id: 'stack-watching', name: 'enabled', checked: st.enabled }), ' Watching (alerts for drift)')),
    h('button', { type: 'submit', class: 'btn' }, 'Save'));

    const card = (label, value, attrs) => h('div', { class: 'card', ...(attrs || {}) },
      h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label));
    const timeline = h('ol', { class: 'timeline', id: 'stack-timeline', 'aria-label': 'Changes and drift, newest first' });
    const more = h('button', { class: 'btn btn-ghost', type: 'button', hidden: true, onclick: () => load() }, 'Load more');
    const timelineBox = h('div', {});
    page(st.name, st.iac_tool + ' · ' + (st.account_id || 'account not declared') + ' · ' + (st.region || 'region not declared') +
      (st.state_location ? ' · state ' + st.state_location : ''),
    h('p', {}, h('a', { href: '#/stacks' }, '← Back to stacks')),
    h('section', { class: 'cards', 'aria-label': 'Drift score' },
      card('drift score (100 = no open drift)', scoreBadge(d.drift_score), { id: 'stack-score', 'data-score': String(d.drift_score) }),
      card('open drift', openDriftText(d.open_drift)),
      card('managed resources', String(d.managed_resources)),
      card('last 14 days', trendView(d.trend), { id: 'stack-trend' })),
    h('section', { 'aria-labelledby': 'settings-h', class: 'panel' }, h('h2', { id: 'settings-h' }, 'Owner, channel and watching'),
      h('p', { class: 'muted small' }, 'The owner is mentioned on the stack\'s alerts; the channel receives them. A stack not watched keeps its drift findings but sends no alert.'),
      form, saved),
    h('section', { 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h' }, 'Timeline'),
      h('p', { class: 'muted small' }, 'Changes of the stack\'s resources and drift findings, newest first: who, when, from where, and what changed.'),
      timelineBox, timeline, more));

    let next = null;
    async function load() {
      try {
        const p = await api('GET', '/v1/stacks/' + encodeURIComponent(st.stack_id) + '/timeline' + qs({ limit: '25', next }));
        timeline.append(...p.items.map(timelineEntry));
        next = p.next || null;
        more.hidden = !next || p.items.length === 0;
        timelineBox.replaceChildren(timeline.children.length ? '' : h('p', { class: 'empty' }, 'Nothing recorded for this stack yet.'));
      } catch (e) {
        timelineBox.replaceChildren(errorBox(e));
      }
    }
    await load();
  }

  // The finding page's drift and IaC sections: the diff (IaC expected vs observed), the
  // suggested IaC change with a copy button, the stack; for a cost finding whether its
  // resource is IaC-managed.
  function findingIacSections(f) {
    const d = f.details || {};
    const out = [];
    if (d.iac && d.iac.summary) {
      out.push(h('section', { 'aria-labelledby': 'iac-h' }, h('h2', { id: 'iac-h' }, 'Infrastructure as code'),
        h('p', { id: 'finding-iac', 'data-managed': String(!!d.iac.managed) }, d.iac.summary + (d.iac.tool ? ' (' + d.iac.tool + ')' : ''))));
    }
    if (f.kind !== 'drift') return out;
    if (d.stack) {
      out.push(h('p', { id: 'finding-stack' }, 'Stack: ', stackLink(d.stack, d.stack),
        d.resource_address ? [' · ', h('code', {}, d.resource_address)] : null));
    }
    out.push(h('section', { 'aria-labelledby': 'diff-h' }, h('h2', { id: 'diff-h' }, 'Diff'),
      h('p', { class: 'muted small' }, 'What the IaC declares against what is in AWS now. Secret values are masked.'),
      diffTable(d.diff, 'Attributes: IaC expected and observed')));
    const codify = Array.isArray(d.codify) ? d.codify : [];
    if (codify.length) {
      out.push(h('section', { 'aria-labelledby': 'codify-h' }, h('h2', { id: 'codify-h' }, 'Keep it: the IaC change'),
        h('p', { class: 'muted small' }, 'To keep this change instead of reverting it, put it in the IaC:'),
        codify.map((c, i) => {
          const status = h('span', { class: 'muted small', role: 'status', 'aria-live': 'polite' });
          const code = h('code', { id: 'codify-' + i }, c.snippet);
          return h('div', { class: 'panel codify', 'data-tool': c.tool },
            h('p', { class: 'small' }, h('strong', {}, c.tool), ' · ', h('code', {}, c.resource), ' · ', h('code', {}, c.attribute)),
            h('pre', {}, code),
            h('button', { type: 'button', class: 'btn btn-ghost', 'aria-describedby': 'codify-' + i, onclick: async () => {
              try {
                await navigator.clipboard.writeText(c.snippet);
                status.textContent = 'Copied.';
              } catch (e) {
                const range = document.createRange();
                range.selectNodeContents(code);
                const sel = window.getSelection();
                sel.removeAllRanges();
                sel.addRange(range);
                status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
              }
            } }, 'Copy'), ' ', status);
        })));
    }
    return out;
  }

  async function apiKeys() {
    const created = h('div', { 'aria-live': 'polite' });
    const list = h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'Keys'));
    const form = h('form', { class: 'inline-form panel', onsubmit: async (ev) => {
      ev.preventDefault();
      const name = new FormData(ev.target).get('name');
      try {
        const k = await api('POST', '/v1/api-keys', { name });
        created.replaceChildren(h('div', { class: 'panel ok' }, h('p', {}, 'Copy this key now — it is shown only once:'),
          h('code', { class: 'secret', id: 'new-api-key' }, k.api_key)));
        ev.target.reset();
        load();
      } catch (e) { created.replaceChildren(errorBox(e)); }
    } },
    h('div', { class: 'field grow' }, h('label', { for: 'key-name' }, 'Name'), h('input', { id: 'key-name', name: 'name', required: true, maxlength: '64', placeholder: 'drift agent, prod' })),
    h('button', { type: 'submit', class: 'btn' }, 'Create key'));
    page('API keys', 'Keys let drift agents and scripts call the API. dd0c stores only a hash.', form, created, list);

    async function load() {
      try {
        const r = await api('GET', '/v1/api-keys?limit=100');
        list.replaceChildren(list.firstChild, r.items.length ? h('div', { class: 'table-wrap' }, h('table', {},
          h('caption', { class: 'sr-only' }, 'API keys'),
          h('thead', {}, h('tr', {}, ['Name', 'Prefix', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, r.items.map((k) => h('tr', {},
            h('td', {}, k.name), h('td', {}, h('code', {}, k.prefix + '…')), h('td', {}, when(k.created_at)),
            h('td', {}, h('button', { type: 'button', class: 'btn btn-link', onclick: async () => {
              if (!confirm('Revoke ' + k.name + '?')) return;
              try { await api('DELETE', '/v1/api-keys/' + encodeURIComponent(k.key_id)); load(); } catch (e) { banner(e.message, 'error'); }
            } }, 'Revoke'))))))) : h('p', { class: 'empty' }, 'No keys yet.'));
      } catch (e) {
        list.replaceChildren(list.firstChild, errorBox(e));
      }
    }
    await load();
  }

  // ---------------------------------------------------------------- Slack
  async function slack() {
    const status = h('div', { 'aria-live': 'polite', id: 'slack-status' });
    const connect = h('button', { type: 'button', class: 'btn', id: 'slack-connect', onclick: async () => {
      try {
        // The link's single-use state is bound to this tenant by the API; Slack brings the
        // browser back to the slack function, which stores the bot token encrypted.
        const r = await api('GET', '/v1/settings/slack/install-url');
        location.assign(r.url);
      } catch (e) { status.replaceChildren(errorBox(e)); }
    } }, 'Add to Slack');
    const s = await api('GET', '/v1/settings/slack');
    const hours = Array.from({ length: 24 }, (_, i) => [String(i), String(i).padStart(2, '0') + ':00']);
    const form = h('form', { class: 'panel', id: 'slack-settings', onsubmit: async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const body = { digest_time_zone: String(f.get('digest_time_zone')).trim(), digest_hour: Number(f.get('digest_hour')) };
      const channel = String(f.get('default_channel') || '').trim();
      if (channel) body.default_channel = channel;
      try {
        const saved = await api('PATCH', '/v1/settings/slack', body);
        status.replaceChildren(h('div', { class: 'panel ok', role: 'status' }, h('p', {},
          'Saved: the daily digest goes out at ' + String(saved.digest_hour).padStart(2, '0') + ':00 ' + saved.digest_time_zone +
          (saved.default_channel ? ' to ' + saved.default_channel : '') + '.')));
      } catch (e) { status.replaceChildren(errorBox(e)); }
    } },
    h('div', { class: 'field' }, h('label', { for: 'default_channel' }, 'Default channel'),
      h('input', { id: 'default_channel', name: 'default_channel', placeholder: '#dd0c-alerts', value: s.default_channel || '' })),
    h('div', { class: 'field' }, h('label', { for: 'digest_time_zone' }, 'Digest time zone (IANA)'),
      h('input', { id: 'digest_time_zone', name: 'digest_time_zone', required: true, value: s.digest_time_zone })),
    select('digest_hour', 'Digest hour', hours, String(s.digest_hour)),
    h('button', { type: 'submit', class: 'btn' }, 'Save'));
    const inst = s.installation;
    const installed = inst ? h('p', { id: 'slack-installed' }, 'Installed in ' + (inst.team_name || 'your workspace') +
      (inst.status === 'broken' ? ' — broken: reinstall.' : '') +
      (inst.channel_name || inst.channel_id ? '; alerts go to ' + (inst.channel_name || inst.channel_id) + ' unless routed elsewhere.' : '.')) : null;
    // An alert that could not reach its channel went to the install channel instead: say what to fix.
    const problem = inst && inst.channel_problem ? h('div', { class: 'panel error', role: 'alert', id: 'slack-channel-problem' },
      h('p', {}, inst.channel_problem)) : null;
    page('Slack', 'Alerts, the daily digest and /dd0c commands go to your Slack workspace.',
      problem,
      h('section', { 'aria-labelledby': 'workspace-h', class: 'panel' }, h('h2', { id: 'workspace-h' }, 'Workspace'),
        installed,
        h('p', {}, 'Install the dd0c app in your workspace (scopes: chat:write, commands, incoming-webhook: Slack asks you which channel alerts go to).'), connect),
      h('section', { 'aria-labelledby': 'digest-h' }, h('h2', { id: 'digest-h' }, 'Channel and daily digest'), form),
      status);
  }

  // While the tenant's alerts are paused (panic mode: `/dd0c pause`, or PUT /v1/policies),
  // every page says so, with a way to resume when the pause is the tenant's own.
  async function pausedBanner() {
    const el = document.getElementById('paused');
    let policies;
    try { policies = await api('GET', '/v1/policies'); } catch (e) { return; }
    const own = (policies.overrides && policies.overrides.tenant) || {};
    const everyone = Boolean(policies.system && policies.system.panic_mode);
    if (!everyone && own.panic_mode !== true) { el.hidden = true; el.replaceChildren(); return; }
    const resume = own.panic_mode === true ? h('button', { type: 'button', class: 'btn', id: 'resume-alerts', onclick: async () => {
      const next = Object.assign({}, own);
      delete next.panic_mode;
      try { await api('PUT', '/v1/policies', { tenant: next }); await pausedBanner(); } catch (e) { banner(e.message, 'error'); }
    } }, 'Resume alerts') : null;
    el.replaceChildren(
      h('strong', {}, 'Alerts are paused.'),
      h('span', {}, everyone
        ? ' dd0c\'s operator has paused alerting for everyone. Findings are still scored and recorded here and in the digest.'
        : ' Findings are still scored and recorded here and in the daily digest; nothing is posted to Slack until you resume (or /dd0c resume).'),
      resume);
    el.hidden = false;
  }

  // ---------------------------------------------------------------- router
  async function route() {
    banner(null);
    pausedBanner();
    const raw = location.hash.replace(/^#/, '') || '/';
    const [path, query] = raw.split('?');
    const params = new URLSearchParams(query || '');
    const parts = path.split('/').filter(Boolean);
    const section = parts[0] || 'overview';
    for (const a of document.querySelectorAll('[data-nav]')) {
      const active = a.dataset.nav === (section === 'findings' || section === 'incidents' ? 'overview' : section);
      if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    try {
      if (section === 'overview') await overview(params);
      else if (section === 'findings' && parts[1]) await findingDetail(decodeURIComponent(parts[1]));
      else if (section === 'incidents' && parts[1]) await incidentDetail(decodeURIComponent(parts[1]));
      else if (section === 'accounts') await accounts();
      else if (section === 'stacks' && parts[1]) await stackDetail(decodeURIComponent(parts[1]));
      else if (section === 'stacks') await stacks();
      else if (section === 'api-keys') await apiKeys();
      else if (section === 'slack') await slack();
      else page('Not found', null, h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Go to the overview.')));
    } catch (e) {
      main().replaceChildren(errorBox(e));
    }
  }

  async function start() {
    try {
      await loadConfig();
      document.getElementById('openapi-link').href = state.config.apiUrl + '/v1/openapi.json';
      await getToken(false);
      const me = await api('GET', '/v1/me');
      state.me = me;
      document.getElementById('whoami').textContent = me.user + ' · tenant ' + me.tenant_id + (state.config.local ? ' · local mode' : '');
    } catch (e) {
      main().replaceChildren(errorBox(e));
      return;
    }
    window.addEventListener('hashchange', route);
    await route();
  }

  start();
})();
