// actormq Sessions page: plain JavaScript, no framework, no build step.
// Talks to the admin REST API of the broker that serves it (docs/admin-api.md).
//
// Safety: client ids, addresses and topic filters come from MQTT clients, so
// every value reaches the DOM through textContent / setAttribute, never as
// markup (tests/web/assets.cpp greps for the HTML-parsing APIs). The page's
// own origin is the only one it talks to (CSP in index.html).
'use strict';

(() => {
  const API = '/api/v1';
  const POLL_MS = 2000;
  const AUTH_KEY = 'actormq.admin.authorization';
  const NEVER_EXPIRES = 4294967295; // MQTT 5 Session Expiry Interval 0xFFFFFFFF

  const $ = (id) => document.getElementById(id);
  const el = {
    brokerStatus: document.querySelector('[data-testid="broker-status"]'),
    countConnected: document.querySelector('[data-testid="count-connected"]'),
    countDisconnected: document.querySelector('[data-testid="count-disconnected"]'),
    countSessions: document.querySelector('[data-testid="count-sessions"]'),
    error: $('error'), errorText: $('error-text'), errorClose: $('error-close'),
    notice: $('notice'),
    filters: $('filters'),
    rows: $('rows'), empty: $('empty'),
    prev: $('prev'), next: $('next'), pageInfo: $('page-info'), updated: $('updated'),
    detail: $('detail'), detailId: $('detail-client-id'), detailClose: $('detail-close'),
    detailMissing: $('detail-missing'), detailFields: $('detail-fields'),
    detailSubs: $('detail-subs'), detailSubCount: $('detail-sub-count'),
    btnDisconnect: $('btn-disconnect'), btnClear: $('btn-clear'), actionHint: $('action-hint'),
    login: $('login'), loginForm: $('login-form'), loginMessage: $('login-message'),
    logout: $('logout'),
    confirm: $('confirm'), confirmTitle: $('confirm-title'), confirmText: $('confirm-text'),
    confirmOk: $('confirm-ok'), confirmCancel: $('confirm-cancel'),
  };

  const state = {
    auth: sessionStorage.getItem(AUTH_KEY), // full Authorization header value, or null
    authed: false,     // the API answered something other than 401
    sort: 'client_id',
    order: 'asc',
    cursors: [null],   // cursors[i]: the cursor that fetched page i (null: first page)
    page: 0,
    nextCursor: null,
    rowsKey: '',       // last rendered list, to leave an unchanged table alone
    detailKey: '',
    selected: null,    // client id shown in the detail panel
    detail: null,      // its last details
    listSeq: 0,        // ignore answers to superseded list requests
    detailSeq: 0,
    pollError: false,  // the shown error came from polling: cleared by the next success
    timer: null,
  };

  // ---- HTTP -------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  async function api(method, path, { query } = {}) {
    let url = API + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query))
        if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
      const s = q.toString();
      if (s) url += '?' + s;
    }
    const headers = { Accept: 'application/json' };
    if (state.auth) headers.Authorization = state.auth;
    let res;
    try {
      res = await fetch(url, { method, headers, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, 'Cannot reach the broker\'s admin API (' + e.message + ').');
    }
    const text = await res.text();
    let body = null;
    if (text) {
      try { body = JSON.parse(text); } catch { body = null; }
    }
    if (res.status === 401) {
      needLogin(state.auth ? 'The broker rejected these credentials. Enter the admin token again.'
                           : 'The admin API needs credentials.');
      throw new ApiError(401, 'Not signed in.', body);
    }
    if (!res.ok) throw new ApiError(res.status, messageOf(res, body, text), body);
    state.authed = true;
    return body;
  }

  function messageOf(res, body, text) {
    let m = '';
    if (body && typeof body === 'object') {
      const e = body.error;
      if (typeof e === 'string') m = e;
      else if (e && typeof e === 'object' && typeof e.message === 'string') m = e.message;
      if (!m && typeof body.message === 'string') m = body.message;
    }
    if (!m && text && text.length < 300 && !text.trimStart().startsWith('<')) m = text.trim();
    return 'HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '') + (m ? ': ' + m : '');
  }

  // ---- small DOM helpers ------------------------------------------------

  function h(tag, attrs, ...children) {
    const n = document.createElement(tag);
    if (attrs)
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') n.className = v;
        else n.setAttribute(k, v === true ? '' : String(v));
      }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  function showError(message, fromPoll = false) {
    el.errorText.textContent = message;
    el.error.hidden = false;
    state.pollError = fromPoll;
  }

  function clearError() {
    el.error.hidden = true;
    el.errorText.textContent = '';
    state.pollError = false;
  }

  let noticeTimer = null;
  function notify(message) {
    el.notice.textContent = message;
    el.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { el.notice.hidden = true; }, 8000);
  }

  // ---- formatting -------------------------------------------------------

  const dash = '—';

  function toDate(v) {
    if (v === null || v === undefined || v === '' || v === 0) return null;
    if (typeof v === 'number') return new Date(v < 1e11 ? v * 1000 : v); // seconds or ms
    const d = new Date(v);
    return isNaN(d.getTime()) ? null : d;
  }

  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(v) {
    const d = toDate(v);
    if (!d) return dash;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
           pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function timeCell(v) {
    const d = toDate(v);
    return d ? h('time', { datetime: d.toISOString(), title: d.toISOString() }, fmtTime(v)) : dash;
  }

  function fmtProtocol(v) {
    if (v === 3) return '3.1';
    if (v === 4) return '3.1.1';
    if (v === 5) return '5.0';
    return v === null || v === undefined || v === '' ? dash : String(v);
  }

  function fmtNum(v) { return typeof v === 'number' ? v.toLocaleString('en-US') : (v ?? dash); }

  function fmtDuration(s) {
    if (s === null) return 'never expires'; // the API's null: 0xFFFFFFFF
    if (typeof s !== 'number') return dash;
    if (s >= NEVER_EXPIRES) return 'never expires';
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min (' + s + ' s)';
    return (s / 3600).toFixed(1) + ' h (' + s + ' s)';
  }

  function fmtUptime(s) {
    if (typeof s !== 'number') return null;
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
    const mm = Math.floor((s % 3600) / 60), ss = Math.floor(s % 60);
    return (d ? d + 'd ' : '') + (d || hh ? hh + 'h ' : '') + (d || hh || mm ? mm + 'm ' : '') + ss + 's';
  }

  const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : dash);

  function retainHandling(v) {
    if (v === 0) return '0 · send retained on subscribe';
    if (v === 1) return '1 · only for a new subscription';
    if (v === 2) return '2 · never';
    return v ?? dash;
  }

  // ---- filters, sorting, pagination ------------------------------------

  function filterQuery() {
    const f = new FormData(el.filters);
    const q = {};
    for (const [k, v] of f.entries()) {
      const s = String(v).trim();
      if (s !== '') q[k] = s;
    }
    return q;
  }

  function resetPages() {
    state.cursors = [null];
    state.page = 0;
    state.nextCursor = null;
  }

  function onFiltersChanged() {
    resetPages();
    refreshList();
  }

  let debounce = null;
  el.filters.addEventListener('input', (e) => {
    if (e.target.tagName === 'SELECT') return; // 'change' handles selects at once
    clearTimeout(debounce);
    debounce = setTimeout(onFiltersChanged, 300);
  });
  el.filters.addEventListener('change', (e) => {
    if (e.target.tagName === 'SELECT') onFiltersChanged();
  });
  el.filters.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(debounce);
    onFiltersChanged();
  });
  el.filters.addEventListener('reset', () => {
    clearTimeout(debounce);
    setTimeout(onFiltersChanged, 0); // after the browser reset the fields
  });

  for (const th of document.querySelectorAll('th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      const col = th.dataset.sort;
      if (state.sort === col) state.order = state.order === 'asc' ? 'desc' : 'asc';
      else { state.sort = col; state.order = 'asc'; }
      renderSortHeaders();
      resetPages();
      refreshList();
    });
  }

  function renderSortHeaders() {
    for (const th of document.querySelectorAll('th[data-sort]')) {
      th.setAttribute('aria-sort', th.dataset.sort !== state.sort ? 'none'
                                   : state.order === 'asc' ? 'ascending' : 'descending');
    }
  }

  el.next.addEventListener('click', () => {
    if (!state.nextCursor) return;
    state.cursors = state.cursors.slice(0, state.page + 1);
    state.cursors.push(state.nextCursor);
    state.page += 1;
    refreshList();
  });
  el.prev.addEventListener('click', () => {
    if (state.page === 0) return;
    state.page -= 1;
    state.cursors = state.cursors.slice(0, state.page + 1);
    refreshList();
  });

  // ---- the list ---------------------------------------------------------

  async function refreshList() {
    if (!state.authed) return;
    const seq = ++state.listSeq;
    const query = Object.assign(filterQuery(), { sort: state.sort, order: state.order });
    const cursor = state.cursors[state.page];
    if (cursor) query.cursor = cursor;
    let body;
    try {
      body = await api('GET', '/sessions', { query });
    } catch (e) {
      if (seq !== state.listSeq || e.status === 401) return;
      if (e.status === 400 && cursor) {
        // A cursor the broker no longer accepts: back to the first page.
        resetPages();
        showError('The page position expired; back to the first page. ' + e.message);
        refreshList();
        return;
      }
      showError(e.status === 400 ? 'Invalid filter: ' + e.message : e.message, true);
      return;
    }
    if (seq !== state.listSeq) return;
    if (state.pollError) clearError();
    renderList(body || {});
  }

  function renderList(body) {
    const items = Array.isArray(body.items) ? body.items : [];
    state.nextCursor = body.next_cursor || null;
    const totals = body.totals || {};
    el.countConnected.textContent = fmtNum(totals.connected);
    el.countDisconnected.textContent = fmtNum(totals.disconnected);
    el.countSessions.textContent = fmtNum(
      totals.sessions ?? (typeof totals.connected === 'number' && typeof totals.disconnected === 'number'
                          ? totals.connected + totals.disconnected : undefined));
    el.prev.disabled = state.page === 0;
    el.next.disabled = !state.nextCursor;
    el.pageInfo.textContent = 'Page ' + (state.page + 1) +
      (items.length ? ' · ' + items.length + (items.length === 1 ? ' session' : ' sessions') : '') +
      (typeof body.matching === 'number' ? ' · ' + fmtNum(body.matching) + ' matching' : '');
    el.updated.textContent = 'updated ' + fmtTime(Date.now());

    const key = JSON.stringify(items) + '|' + state.selected + '|' + state.nextCursor;
    if (key === state.rowsKey) return; // unchanged: keep the DOM (focus, selection)
    state.rowsKey = key;
    const frag = document.createDocumentFragment();
    for (const s of items) frag.append(row(s));
    el.rows.replaceChildren(frag);
    el.empty.textContent = state.nextCursor
      ? 'No match among the sessions examined so far: Next continues the search.'
      : 'No sessions match.';
    el.empty.hidden = items.length > 0;
  }

  function row(s) {
    const id = String(s.client_id ?? '');
    const selected = id === state.selected;
    const link = h('a', { href: '#/sessions/' + encodeURIComponent(id), 'data-testid': 'session-link' }, id);
    return h('tr', {
      'data-testid': 'session-row',
      'data-client-id': id,
      'data-connected': String(!!s.connected),
      'data-persistent': String(!!s.persistent),
      class: selected ? 'selected' : null,
      'aria-current': selected ? 'true' : null,
    },
      h('td', { 'data-testid': 'cell-client_id', class: 'id' }, link),
      h('td', { 'data-testid': 'cell-type' }, s.type ?? dash),
      h('td', { 'data-testid': 'cell-persistent' }, s.persistent ? 'persistent' : 'clean'),
      h('td', { 'data-testid': 'cell-connected' },
        h('span', { class: 'dot ' + (s.connected ? 'on' : 'off'), 'aria-hidden': 'true' }),
        s.connected ? 'connected' : 'disconnected'),
      h('td', { 'data-testid': 'cell-protocol_version' }, fmtProtocol(s.protocol_version)),
      h('td', { 'data-testid': 'cell-client_address' }, s.client_address || dash),
      h('td', { 'data-testid': 'cell-node' }, s.node || dash),
      h('td', { 'data-testid': 'cell-connected_at' }, timeCell(s.connected_at)),
      h('td', { 'data-testid': 'cell-disconnected_at' }, timeCell(s.disconnected_at)),
      h('td', { 'data-testid': 'cell-subscriptions', class: 'num' }, fmtNum(s.subscriptions)),
      h('td', { 'data-testid': 'cell-queue_depth', class: 'num' }, fmtNum(s.queue_depth)));
  }

  // ---- the detail panel -------------------------------------------------

  function selectedFromHash() {
    const m = /^#\/sessions\/(.+)$/.exec(location.hash);
    if (!m) return null;
    try { return decodeURIComponent(m[1]); } catch { return null; }
  }

  function onHash() {
    const id = selectedFromHash();
    if (id === state.selected) return;
    state.selected = id;
    state.detail = null;
    state.detailKey = '';
    state.rowsKey = ''; // re-mark the selected row
    if (id === null) {
      el.detail.hidden = true;
      refreshList();
      return;
    }
    el.detail.hidden = false;
    el.detailId.textContent = id;
    el.detailMissing.hidden = true;
    el.detailFields.replaceChildren();
    el.detailSubs.replaceChildren();
    el.detailSubCount.textContent = '';
    el.btnDisconnect.disabled = true;
    el.btnClear.disabled = true;
    el.actionHint.textContent = 'Loading…';
    refreshDetail();
    refreshList();
    el.detailClose.focus();
  }
  window.addEventListener('hashchange', onHash);

  el.detailClose.addEventListener('click', () => {
    const id = state.selected;
    history.pushState(null, '', location.pathname + location.search);
    onHash();
    if (id !== null) {
      const link = [...el.rows.querySelectorAll('tr')].find((tr) => tr.dataset.clientId === id);
      if (link) link.querySelector('a').focus();
    }
  });

  async function refreshDetail() {
    const id = state.selected;
    if (id === null || !state.authed) return;
    const seq = ++state.detailSeq;
    let d;
    try {
      d = await api('GET', '/sessions/' + encodeURIComponent(id));
    } catch (e) {
      if (seq !== state.detailSeq || id !== state.selected || e.status === 401) return;
      if (e.status === 404) {
        renderMissing(id);
        return;
      }
      showError(e.message, true);
      return;
    }
    if (seq !== state.detailSeq || id !== state.selected) return;
    renderDetail(d || {});
  }

  function renderMissing(id) {
    state.detail = null;
    state.detailKey = '';
    el.detailMissing.textContent = 'No session with client id "' + id +
      '": it was cleared, it expired, or it never existed (404).';
    el.detailMissing.hidden = false;
    el.detailFields.replaceChildren();
    el.detailSubs.replaceChildren();
    el.detailSubCount.textContent = '';
    el.btnDisconnect.disabled = true;
    el.btnClear.disabled = true;
    el.actionHint.textContent = '';
  }

  function renderDetail(d) {
    state.detail = d;
    const key = JSON.stringify(d);
    el.detailMissing.hidden = true;
    updateActions(d);
    if (key === state.detailKey) return;
    state.detailKey = key;

    const fields = [
      ['client_id', 'Client id', d.client_id ?? state.selected],
      ['type', 'Type', d.type ?? dash],
      ['persistent', 'Session', d.persistent ? 'persistent' : 'clean'],
      ['connected', 'State', d.connected ? 'connected' : 'disconnected'],
      ['protocol_version', 'MQTT version', fmtProtocol(d.protocol_version)],
      ['client_address', 'Client address', d.client_address || dash],
      ['node', 'Node', d.node || dash],
      ['connected_at', 'Connected at', timeCell(d.connected_at)],
      ['disconnected_at', 'Disconnected at', timeCell(d.disconnected_at)],
      ['keep_alive', 'Keep-alive', typeof d.keep_alive === 'number' ? d.keep_alive + ' s' : dash],
      ['session_expiry_interval', 'Session expiry interval', fmtDuration(d.session_expiry_interval)],
      ['expires_at', 'Expires at', d.connected ? 'not while connected'
                                   : d.expires_at ? timeCell(d.expires_at) : 'never'],
      ['inflight', 'In flight', fmtNum(d.inflight)],
      ['queue_depth', 'Offline queue', fmtNum(d.queue_depth)],
      ['dropped', 'Dropped', fmtNum(d.dropped)],
    ];
    const frag = document.createDocumentFragment();
    for (const [k, label, value] of fields) {
      frag.append(h('dt', null, label), h('dd', { 'data-testid': 'detail-' + k }, value));
    }
    el.detailFields.replaceChildren(frag);

    const subs = Array.isArray(d.subscriptions) ? d.subscriptions : [];
    const unknown = d.subscriptions_known === false;
    el.detailSubCount.textContent = unknown
      ? '(' + fmtNum(d.subscription_count) + ', the session did not answer with its list)'
      : '(' + subs.length + ')';
    const rows = document.createDocumentFragment();
    for (const s of subs) {
      rows.append(h('tr', { 'data-testid': 'detail-sub-row', 'data-filter': String(s.filter ?? '') },
        h('td', { 'data-testid': 'sub-filter', class: 'id' }, String(s.filter ?? '')),
        h('td', { 'data-testid': 'sub-qos' }, s.qos ?? dash),
        h('td', { 'data-testid': 'sub-no_local' }, yesNo(s.no_local)),
        h('td', { 'data-testid': 'sub-retain_as_published' }, yesNo(s.retain_as_published)),
        h('td', { 'data-testid': 'sub-retain_handling' }, retainHandling(s.retain_handling)),
        h('td', { 'data-testid': 'sub-subscription_id' },
          s.subscription_id === null || s.subscription_id === undefined || s.subscription_id === 0
            ? dash : s.subscription_id)));
    }
    if (!subs.length)
      rows.append(h('tr', null, h('td', { colspan: 6, class: 'muted' },
                                  unknown ? 'Subscriptions unavailable right now.' : 'No subscriptions.')));
    el.detailSubs.replaceChildren(rows);
  }

  function updateActions(d) {
    el.btnDisconnect.disabled = !d.connected;
    el.btnClear.disabled = !!d.connected || !d.persistent;
    el.actionHint.textContent = d.connected
      ? 'Disconnect closes the connection (MQTT 5: DISCONNECT with reason 0x98, administrative action). ' +
        'A session must be disconnected before it can be cleared.'
      : d.persistent
        ? 'Clear session removes the session, its subscriptions and its queued messages from the broker and its stores.'
        : 'A disconnected clean session is removed by the broker by itself.';
  }

  el.btnDisconnect.addEventListener('click', async () => {
    const id = state.selected;
    if (id === null) return;
    const ok = await confirmDialog('Disconnect this client?',
      'The broker closes the connection of "' + id + '". A client that reconnects by itself may come back.',
      'Disconnect');
    if (!ok || id !== state.selected) return;
    try {
      await api('POST', '/sessions/' + encodeURIComponent(id) + '/disconnect');
      clearError();
      notify('Disconnected "' + id + '".');
    } catch (e) {
      if (e.status === 401) return;
      if (e.status === 404) showError('Session "' + id + '" no longer exists (404).');
      else if (e.status === 409) showError('"' + id + '" is not connected (409): nothing to disconnect.');
      else showError('Disconnect failed: ' + e.message);
    }
    refreshNow();
  });

  el.btnClear.addEventListener('click', async () => {
    const id = state.selected;
    if (id === null) return;
    const ok = await confirmDialog('Clear this session?',
      'The persistent session "' + id + '" is removed with its subscriptions and queued messages. ' +
      'This cannot be undone.', 'Clear session');
    if (!ok || id !== state.selected) return;
    try {
      await api('DELETE', '/sessions/' + encodeURIComponent(id));
      clearError();
      notify('Cleared session "' + id + '".');
      history.pushState(null, '', location.pathname + location.search);
      onHash();
    } catch (e) {
      if (e.status === 401) return;
      if (e.status === 404) showError('Session "' + id + '" no longer exists (404): it was already cleared or expired.');
      else if (e.status === 409) showError('"' + id + '" cannot be cleared now (409): it is connected. ' +
                                           'Disconnect it first; only a disconnected session can be cleared.');
      else showError('Clear failed: ' + e.message);
    }
    refreshNow();
  });

  // ---- dialogs ----------------------------------------------------------

  let confirmResolve = null;
  function confirmDialog(title, text, okLabel) {
    el.confirmTitle.textContent = title;
    el.confirmText.textContent = text;
    el.confirmOk.textContent = okLabel;
    if (confirmResolve) confirmResolve(false);
    return new Promise((resolve) => {
      confirmResolve = resolve;
      el.confirm.returnValue = '';
      el.confirm.showModal();
      el.confirmCancel.focus(); // the safe choice has the focus
    });
  }
  el.confirmOk.addEventListener('click', () => el.confirm.close('ok'));
  el.confirmCancel.addEventListener('click', () => el.confirm.close('cancel'));
  el.confirm.addEventListener('close', () => {
    const r = confirmResolve;
    confirmResolve = null;
    if (r) r(el.confirm.returnValue === 'ok');
  });

  function needLogin(message) {
    state.auth = null;
    state.authed = false;
    sessionStorage.removeItem(AUTH_KEY);
    el.loginMessage.textContent = message || '';
    if (el.confirm.open) el.confirm.close('cancel');
    if (!el.login.open) el.login.showModal();
    el.loginForm.elements.token.focus();
  }

  el.login.addEventListener('cancel', (e) => {
    if (!state.authed) e.preventDefault(); // nothing to show without credentials
  });

  el.loginForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = el.loginForm.elements;
    const token = f.token.value.trim();
    const user = f.username.value;
    const pass = f.password.value;
    let auth = null;
    if (token) auth = 'Bearer ' + token;
    else if (user) {
      const bytes = new TextEncoder().encode(user + ':' + pass);
      auth = 'Basic ' + btoa(String.fromCharCode(...bytes));
    } else {
      el.loginMessage.textContent = 'Enter the admin token, or a user name and password.';
      return;
    }
    state.auth = auth;
    try {
      await api('GET', '/status');
    } catch (err) {
      if (err.status !== 401) el.loginMessage.textContent = err.message;
      if (err.status === 401) {
        el.loginMessage.textContent = 'The broker rejected these credentials (401).';
        f.token.select();
      }
      return;
    }
    sessionStorage.setItem(AUTH_KEY, auth);
    f.token.value = '';
    f.password.value = '';
    el.loginMessage.textContent = '';
    el.login.close();
    start();
  });

  el.logout.addEventListener('click', () => needLogin('Signed out.'));
  el.errorClose.addEventListener('click', clearError);

  // ---- status and polling ----------------------------------------------

  async function refreshStatus() {
    let s;
    try {
      s = await api('GET', '/status');
    } catch (e) {
      return; // the list reports errors; status is decoration
    }
    if (!s || typeof s !== 'object') return;
    const parts = [];
    if (s.node) parts.push('node ' + s.node);
    if (s.version) parts.push('version ' + s.version);
    const up = fmtUptime(s.uptime_s ?? s.uptime_seconds ?? s.uptime);
    if (up) parts.push('up ' + up);
    el.brokerStatus.textContent = parts.join(' · ');
  }

  function refreshNow() {
    refreshList();
    refreshDetail();
  }

  function tick() {
    if (document.hidden || !state.authed) return;
    if (el.confirm.open) return; // do not change what the user is confirming
    refreshNow();
    refreshStatus();
  }

  function start() {
    clearInterval(state.timer);
    state.timer = setInterval(tick, POLL_MS);
    refreshStatus();
    refreshNow();
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });

  // ---- boot -------------------------------------------------------------

  renderSortHeaders();
  state.selected = null;
  onHash();
  (async () => {
    try {
      await api('GET', '/status'); // 401 opens the sign-in dialog
    } catch (e) {
      if (e.status !== 401) showError(e.message, true);
      if (e.status === 401) return;
      // Unreachable: keep polling until the broker answers.
      state.authed = true;
    }
    start();
  })();
})();
