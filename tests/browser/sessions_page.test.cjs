// The Sessions page in a real browser: the real `actormq` binary with the admin
// server on, real MQTT clients (mosquitto_sub), Debian's headless Chromium
// driven by playwright-core. Asserts on the page's DOM (data-testid
// attributes) and double-checks through the REST API and the MQTT clients.
//
// Run: ctest -L browser (from a build dir), or
//   AMQ_BROKER_BIN=build/actors/actormq NODE_PATH=<dir with node_modules> \
//     node --test tests/browser/sessions_page.test.cjs
// Needs: /usr/bin/chromium (scripts/install-deps.sh), mosquitto-clients,
// `npm ci` of tests/browser/package.json (the ctest fixture does it).
// Screenshots of a failure go to $TMPDIR only, never to the repository.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const BROKER_BIN = process.env.AMQ_BROKER_BIN || path.join(REPO, 'build', 'actors', 'actormq');
const CHROMIUM = process.env.AMQ_CHROMIUM || '/usr/bin/chromium';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
// Flags this machine needs: without the background-networking ones Chromium's
// own connections get refused here and page loads stall.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TIMEOUT = 10_000; // one expected event; bounds how long a failing test hangs
const BAD_LOG = /^\S+ (error|critical) |AddressSanitizer|LeakSanitizer|runtime error:/m;

// ---- helpers ----------------------------------------------------------------

function requireTool(file, hint) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(`${file} not found or not executable: ${hint}`);
  }
}

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch (e) {
    throw new Error('playwright-core is not installed: run `npm ci` in tests/browser (or let ctest\'s ' +
                    'browser_npm_ci fixture do it; NODE_PATH must name its node_modules): ' + e.message);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (exceptions count as "not yet"). */
async function eventually(fn, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await pause(50);
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

class Broker {
  constructor(dir, token) {
    this.dir = dir;
    this.token = token;
    this.logPath = path.join(dir, 'broker.log');
    this.node = 'sp-node-1';
  }

  async start() {
    requireTool(BROKER_BIN, 'build the actormq target or set AMQ_BROKER_BIN');
    for (let attempt = 0; attempt < 3; ++attempt) {
      this.mqttPort = await freePort();
      this.adminPort = await freePort();
      const log = fs.openSync(this.logPath, 'a');
      this.proc = spawn(BROKER_BIN, [
        '--bind', '127.0.0.1', '--port', String(this.mqttPort), '--log-level', 'info',
        '--data-dir', path.join(this.dir, 'data'),
        '--set', 'admin.enabled=true', '--set', 'admin.bind=127.0.0.1',
        '--set', `admin.port=${this.adminPort}`, '--set', `admin.token=${this.token}`,
        '--set', 'admin.username=ops', '--set', `admin.password=pw-${this.token}`,
        '--set', `cluster.node_name=${this.node}`,
        '--set', 'session.client_type_rules=[{field: client_id, kind: prefix, pattern: "sp-app", type: application}]',
      ], { stdio: ['ignore', log, log] });
      fs.closeSync(log);
      this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
      let gone = false;
      this.exited.then(() => { gone = true; });
      const deadline = Date.now() + TIMEOUT;
      let portTaken = false;
      while (!gone && Date.now() < deadline) {
        // The broker runs on without the admin server when its port is taken
        // (another process grabbed the free port in between): retry.
        if (/admin API cannot listen/.test(this.log())) { portTaken = true; break; }
        if (await canConnect(this.mqttPort)) {
          try {
            const r = await this.api('GET', '/api/v1/status');
            if (r.status === 200) return this;
          } catch { /* admin server not up yet */ }
        }
        await pause(25);
      }
      if (portTaken) {
        this.proc.kill('SIGKILL');
        await this.exited;
        continue;
      }
      if (!gone) {
        this.proc.kill('SIGKILL');
        await this.exited;
        throw new Error(`broker did not serve MQTT and the admin API within ${TIMEOUT} ms:\n${this.log()}`);
      }
      // exited: a port was taken in between, or a real failure; retry, then report
    }
    throw new Error(`broker failed to start 3 times:\n${this.log()}`);
  }

  get adminUrl() { return `http://127.0.0.1:${this.adminPort}`; }

  async api(method, p, { auth = `Bearer ${this.token}` } = {}) {
    const headers = auth ? { Authorization: auth } : {};
    const res = await fetch(this.adminUrl + p, { method, headers, signal: AbortSignal.timeout(TIMEOUT) });
    const text = await res.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = text; }
    return { status: res.status, body };
  }

  async sessions() {
    const r = await this.api('GET', '/api/v1/sessions?limit=100');
    assert.equal(r.status, 200, `GET /api/v1/sessions: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return '(no log)'; }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    const { code, sig } = await this.exited;
    clearTimeout(t);
    const log = this.log();
    assert.equal(code, 0, `broker exited with ${code ?? sig} after SIGTERM:\n${log.slice(-4000)}`);
    const bad = BAD_LOG.exec(log);
    assert.ok(!bad, `broker log has an error line:\n${bad && log.slice(Math.max(0, bad.index - 500), bad.index + 2000)}`);
  }
}

/** A mosquitto_sub process; output kept for assertions. */
class Sub {
  constructor(broker, id, args) {
    this.id = id;
    this.out = '';
    this.proc = spawn(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-i', id, ...args],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.out += d; });
    this.proc.stderr.on('data', (d) => { this.out += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
  }

  get running() { return this.proc.exitCode === null && this.proc.signalCode === null; }

  async waitExit(what) {
    let t;
    const timeout = new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`mosquitto_sub ${this.id} did not exit (${what}); output:\n${this.out}`)),
                     TIMEOUT);
    });
    try { return await Promise.race([this.exited, timeout]); } finally { clearTimeout(t); }
  }

  kill() { if (this.running) this.proc.kill('SIGKILL'); }
}

// ---- the test ---------------------------------------------------------------

test('Sessions page: list, counts, filters, sort, pages, details, disconnect, clear', { timeout: 180_000 },
  async (t) => {
    requireTool(CHROMIUM, 'install Debian\'s chromium (scripts/install-deps.sh); this test never skips');
    requireTool(MOSQUITTO_SUB, 'install mosquitto-clients (scripts/install-deps.sh)');
    const { chromium } = loadPlaywright();

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amq-browser-'));
    const token = crypto.randomBytes(16).toString('hex');
    const broker = new Broker(dir, token);
    const subs = [];
    let context = null;
    let page = null;
    t.after(async () => {
      for (const s of subs) s.kill();
      if (context) await context.close().catch(() => {});
    });

    await broker.start();

    // -- MQTT clients ---------------------------------------------------------
    const sub = (id, ...args) => { const s = new Sub(broker, id, args); subs.push(s); return s; };
    const XSS = 'sp-<img src=x onerror=alert(1)>"&';
    const v5 = ['-V', 'mqttv5'];
    sub('sp-dev-persist', ...v5, '-c', '-x', '3600', '-k', '30', '-q', '2', '-t', 'site/+/temp',
        '-t', 'site/1/#', '-t', 'alerts', '-D', 'subscribe', 'subscription-identifier', '7');
    sub('sp-app-persist', '-V', 'mqttv311', '-c', '-q', '1', '-t', 'orders/#');
    for (const n of [1, 2, 3]) sub(`sp-clean-${n}`, ...v5, '-q', '0', '-t', `clean/${n}`);
    const victim = sub('sp-victim', ...v5, '-d', '-q', '1', '-t', 'victim/#');
    sub(XSS, ...v5, '-q', '0', '-t', 'xss/#');
    // A persistent session whose client subscribes, then disconnects (-E).
    const gone = sub('sp-gone', '-V', 'mqttv311', '-c', '-q', '1', '-t', 'gone/#', '-t', 'gone2/+', '-E');
    const g = await gone.waitExit('-E after SUBACK');
    assert.equal(g.code, 0, `mosquitto_sub -E for sp-gone failed:\n${gone.out}`);

    const expected = {
      'sp-dev-persist': { connected: true, persistent: true, type: 'DEVICE', subscriptions: 3 },
      'sp-app-persist': { connected: true, persistent: true, type: 'APPLICATION', subscriptions: 1 },
      'sp-clean-1': { connected: true, persistent: false, type: 'DEVICE', subscriptions: 1 },
      'sp-clean-2': { connected: true, persistent: false, type: 'DEVICE', subscriptions: 1 },
      'sp-clean-3': { connected: true, persistent: false, type: 'DEVICE', subscriptions: 1 },
      'sp-victim': { connected: true, persistent: false, type: 'DEVICE', subscriptions: 1 },
      [XSS]: { connected: true, persistent: false, type: 'DEVICE', subscriptions: 1 },
      'sp-gone': { connected: false, persistent: true, type: 'DEVICE', subscriptions: 2 },
    };
    const ids = Object.keys(expected);
    // Sync point: the API reports every client with its state and subscriptions.
    await eventually(async () => {
      const b = await broker.sessions();
      const got = new Map(b.items.map((s) => [s.client_id, s]));
      return ids.every((id) => got.has(id) && got.get(id).connected === expected[id].connected &&
                               got.get(id).subscriptions === expected[id].subscriptions) &&
             got.size === ids.length;
    }, 'the API to list the 8 MQTT sessions with their states');

    // -- the browser ----------------------------------------------------------
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'amq-chromium-'));
    t.after(() => fs.rmSync(profile, { recursive: true, force: true }));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1600, height: 1000 },
    });
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const problems = [];
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => {
      // 401/404 answers the test provokes on purpose show up as resource errors.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push('console: ' + m.text());
    });
    page.on('dialog', (d) => { problems.push(`unexpected ${d.type()} dialog: ${d.message()}`); d.dismiss(); });
    let listAnswers = 0;
    page.on('requestfinished', (r) => { if (/\/api\/v1\/sessions\?/.test(r.url())) ++listAnswers; });

    const tid = (id) => `[data-testid="${id}"]`;
    const text = async (id) => (await page.locator(tid(id)).first().textContent()).trim();
    const rows = () => page.$$eval('[data-testid="session-row"]', (trs) => trs.map((tr) => ({
      id: tr.dataset.clientId,
      cellId: tr.querySelector('[data-testid="cell-client_id"]').textContent,
      connected: tr.querySelector('[data-testid="cell-connected"]').textContent.trim(),
      persistent: tr.querySelector('[data-testid="cell-persistent"]').textContent.trim(),
      type: tr.querySelector('[data-testid="cell-type"]').textContent.trim(),
      node: tr.querySelector('[data-testid="cell-node"]').textContent.trim(),
      subscriptions: tr.querySelector('[data-testid="cell-subscriptions"]').textContent.trim(),
    })));
    const rowIds = async () => (await rows()).map((r) => r.id);
    const sameSet = (a, b) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
    const waitRows = (want, what) => eventually(async () => sameSet(await rowIds(), want), what);
    const counts = async () => [await text('count-connected'), await text('count-disconnected'),
                                await text('count-sessions')].join('/');
    const waitCounts = (want, what) => eventually(async () => (await counts()) === want, `${what}: counts ${want}`);
    const openDetail = async (id) => {
      await page.getByRole('link', { name: id, exact: true }).click();
      await eventually(async () => (await text('detail-client-id')) === id &&
                                   (await page.locator(tid('detail-connected')).count()) === 1,
                       `the detail panel of ${id}`);
    };

    // Steps run in order and stop at the first failure (later ones build on it).
    const step = async (name, fn) => {
      const t0 = Date.now();
      try {
        await fn();
      } catch (e) {
        e.message = `step "${name}": ${e.message}`;
        throw e;
      }
      console.log(`ok - ${name} (${Date.now() - t0} ms)`);
    };

    try {
      await page.goto(broker.adminUrl + '/');
      await step('asks for the token; a wrong one is refused', async () => {
        await page.locator(tid('login-dialog')).waitFor({ state: 'visible' });
        await page.fill(tid('login-token'), 'wrong-' + token);
        await page.click(tid('login-submit'));
        await eventually(async () => /rejected/i.test(await text('login-message')), 'the "rejected" message');
        assert.ok(await page.locator(tid('login-dialog')).isVisible());
        await page.fill(tid('login-token'), token);
        await page.click(tid('login-submit'));
        await page.locator(tid('login-dialog')).waitFor({ state: 'hidden' });
      });

      await step('lists every session with its state, and the counts', async () => {
        await waitRows(ids, 'the 8 sessions in the table');
        for (const r of await rows()) {
          const e = expected[r.id];
          assert.equal(r.connected, e.connected ? 'connected' : 'disconnected', `${r.id} state`);
          assert.equal(r.persistent, e.persistent ? 'persistent' : 'clean', `${r.id} session kind`);
          assert.equal(r.type, e.type, `${r.id} type`);
          assert.equal(r.subscriptions, String(e.subscriptions), `${r.id} subscriptions`);
          assert.equal(r.node, broker.node, `${r.id} node`);
          assert.equal(r.cellId, r.id, 'the client id is shown as text');
        }
        await waitCounts('7/1/8', 'totals');
        // Client ids are attacker-controlled: shown as text, never parsed as HTML.
        assert.equal(await page.locator('[data-testid="sessions-body"] img').count(), 0, 'no <img> from a client id');
        assert.ok(/node sp-node-1/.test(await text('broker-status')), 'broker status shows the node');
      });

      await step('counts are live: a new client shows up without a reload', async () => {
        sub('sp-late', ...v5, '-q', '0', '-t', 'late');
        await waitCounts('8/1/9', 'a client that connected after the page loaded');
        await waitRows([...ids, 'sp-late'], 'sp-late in the refreshed table');
      });

      await step('filters', async () => {
        await page.selectOption(tid('filter-connected'), 'false');
        await waitRows(['sp-gone'], 'connected=false');
        await page.selectOption(tid('filter-connected'), 'true');
        await page.selectOption(tid('filter-persistent'), 'true');
        await waitRows(['sp-dev-persist', 'sp-app-persist'], 'connected and persistent');
        await page.selectOption(tid('filter-connected'), '');
        await page.selectOption(tid('filter-type'), 'APPLICATION');
        await waitRows(['sp-app-persist'], 'persistent APPLICATION');
        await page.click(tid('filter-reset'));
        await waitRows([...ids, 'sp-late'], 'filters cleared');
        await page.fill(tid('filter-client-id'), 'clean');
        await waitRows(['sp-clean-1', 'sp-clean-2', 'sp-clean-3'], 'client id contains "clean"');
        await page.fill(tid('filter-client-id'), '');
        await page.fill(tid('filter-min-subscriptions'), '2');
        await waitRows(['sp-dev-persist', 'sp-gone'], 'at least 2 subscriptions');
        await page.fill(tid('filter-max-subscriptions'), '2');
        await waitRows(['sp-gone'], '2 subscriptions exactly');
        await page.click(tid('filter-reset'));
        await page.fill(tid('filter-client-ip'), '127.0.0.1');
        await waitRows([...ids, 'sp-late'], 'client IP 127.0.0.1');
        await page.fill(tid('filter-client-ip'), '10.255.');
        await waitRows([], 'client IP 10.255.');
        assert.ok(await page.locator(tid('sessions-empty')).isVisible(), '"No sessions match" shown');
        await page.click(tid('filter-reset'));
        await page.fill(tid('filter-node'), 'no-such-node');
        await waitRows([], 'node no-such-node');
        await page.fill(tid('filter-node'), broker.node);
        await waitRows([...ids, 'sp-late'], `node ${broker.node}`);
        await page.click(tid('filter-reset'));
      });

      await step('sorts by column', async () => {
        const all = [...ids, 'sp-late'];
        const asc = [...all].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
        await eventually(async () => (await rowIds()).join('\n') === asc.join('\n'), 'client id ascending');
        await page.click(tid('sort-client_id'));
        await eventually(async () => (await rowIds()).join('\n') === [...asc].reverse().join('\n'),
                         'client id descending');
        assert.equal(await page.getAttribute('th[data-sort="client_id"]', 'aria-sort'), 'descending');
        await page.click(tid('sort-subscriptions'));
        await page.click(tid('sort-subscriptions'));
        await eventually(async () => (await rowIds())[0] === 'sp-dev-persist' &&
                                     (await rowIds())[1] === 'sp-gone', 'most subscriptions first');
        await page.click(tid('sort-client_id'));
        await eventually(async () => (await rowIds()).join('\n') === asc.join('\n'), 'back to ascending');
      });

      await step('pages by cursor and keeps its place while refreshing', async () => {
        const all = [...ids, 'sp-late'];
        const asc = [...all].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
        await page.selectOption(tid('page-size'), '5');
        await eventually(async () => (await rowIds()).join('\n') === asc.slice(0, 5).join('\n'), 'page 1 of 5');
        assert.ok(await page.locator(tid('page-prev')).isDisabled());
        await page.locator(`${tid('page-next')}:enabled`).waitFor();
        await page.click(tid('page-next'));
        await eventually(async () => (await rowIds()).join('\n') === asc.slice(5).join('\n'), 'page 2');
        assert.match(await text('page-info'), /^Page 2/);
        const seen = listAnswers;
        await eventually(() => listAnswers >= seen + 2, 'two more list refreshes (2 s polling)', 15_000);
        assert.match(await text('page-info'), /^Page 2/, 'still on page 2 after refreshing');
        assert.equal((await rowIds()).join('\n'), asc.slice(5).join('\n'), 'same rows after refreshing');
        assert.ok(await page.locator(tid('page-next')).isDisabled(), 'no page 3');
        await page.click(tid('page-prev'));
        await eventually(async () => (await rowIds()).join('\n') === asc.slice(0, 5).join('\n'), 'back on page 1');
        await page.selectOption(tid('page-size'), '25');
        await waitRows(all, 'one page of 25');
      });

      await step('detail view: connection metadata and subscriptions with QoS', async () => {
        await openDetail('sp-dev-persist');
        const d = async (k) => text('detail-' + k);
        assert.equal(await d('connected'), 'connected');
        assert.equal(await d('persistent'), 'persistent');
        assert.equal(await d('type'), 'DEVICE');
        assert.equal(await d('protocol_version'), '5.0');
        assert.equal(await d('keep_alive'), '30 s');
        assert.match(await d('session_expiry_interval'), /3600 s/);
        assert.match(await d('client_address'), /^127\.0\.0\.1:\d+$/);
        assert.equal(await d('node'), broker.node);
        assert.equal(await d('expires_at'), 'not while connected');
        assert.match(await d('connected_at'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
        assert.equal(await d('disconnected_at'), '—');
        const subsShown = await page.$$eval('[data-testid="detail-sub-row"]', (trs) => trs.map((tr) => ({
          filter: tr.querySelector('[data-testid="sub-filter"]').textContent,
          qos: tr.querySelector('[data-testid="sub-qos"]').textContent,
          id: tr.querySelector('[data-testid="sub-subscription_id"]').textContent,
        })));
        assert.deepEqual(subsShown.map((s) => s.filter).sort(), ['alerts', 'site/+/temp', 'site/1/#']);
        for (const s of subsShown) {
          assert.equal(s.qos, '2', `QoS of ${s.filter}`);
          assert.equal(s.id, '7', `subscription identifier of ${s.filter}`);
        }
        assert.ok(await page.locator(tid('btn-disconnect')).isEnabled(), 'Disconnect enabled for a connected session');
        assert.ok(await page.locator(tid('btn-clear')).isDisabled(), 'Clear disabled while connected');
        await openDetail('sp-app-persist');
        assert.equal(await d('type'), 'APPLICATION');
        assert.equal(await d('protocol_version'), '3.1.1');
        const appSubs = await page.$$eval('[data-testid="detail-sub-row"]', (trs) => trs.map((tr) =>
          tr.querySelector('[data-testid="sub-filter"]').textContent + ' q' +
          tr.querySelector('[data-testid="sub-qos"]').textContent));
        assert.deepEqual(appSubs, ['orders/# q1']);
        // An unknown session (a stale link): a clear 404 message.
        await page.evaluate(() => { location.hash = '#/sessions/' + encodeURIComponent('sp-no-such'); });
        await eventually(async () => /404/.test(await text('detail-missing')), 'the 404 message');
        await page.click(tid('detail-close'));
        await page.locator(tid('detail')).waitFor({ state: 'hidden' });
      });

      await step('disconnect a connected client, after confirming', async () => {
        await openDetail('sp-victim');
        await page.click(tid('btn-disconnect'));
        await page.locator(tid('confirm-dialog')).waitFor({ state: 'visible' });
        assert.match(await text('confirm-text'), /sp-victim/);
        await page.click(tid('confirm-cancel'));
        await page.locator(tid('confirm-dialog')).waitFor({ state: 'hidden' });
        assert.ok(victim.running, 'Cancel leaves the client connected');
        await page.click(tid('btn-disconnect'));
        await page.click(tid('confirm-ok'));
        const v = await victim.waitExit('after the admin disconnect');
        assert.match(victim.out, /Received DISCONNECT \(152\)/,
                     `the client got DISCONNECT 0x98 (administrative action); exit ${JSON.stringify(v)}`);
        await eventually(async () => /Disconnected/.test(await text('notice')), 'the "Disconnected" notice');
        // A clean session ends with its connection: gone from the table and the API.
        await eventually(async () => !(await rowIds()).includes('sp-victim'), 'sp-victim gone from the table');
        await waitCounts('7/1/8', 'after the disconnect');
        assert.equal((await broker.api('GET', '/api/v1/sessions/sp-victim')).status, 404);
      });

      await step('a session that came back meanwhile is not cleared (409, explained); disconnect keeps a persistent one', async () => {
        await openDetail('sp-gone');
        await page.click(tid('btn-clear'));
        await page.locator(tid('confirm-dialog')).waitFor({ state: 'visible' });
        // While the operator reads the dialog (polling paused), the client reconnects.
        const back = sub('sp-gone', ...v5, '-d', '-c', '-x', '3600', '-q', '1', '-t', 'gone/#');
        await eventually(async () => (await broker.api('GET', '/api/v1/sessions/sp-gone')).body?.connected === true,
                         'sp-gone connected again');
        await page.click(tid('confirm-ok'));
        await eventually(async () => /\(409\).*[Dd]isconnect it first/.test(await text('error-text')),
                         'the 409 explanation');
        assert.equal((await broker.api('GET', '/api/v1/sessions/sp-gone')).status, 200, 'not cleared');
        await page.locator(`${tid('btn-disconnect')}:enabled`).waitFor();
        await page.click(tid('btn-disconnect'));
        await page.click(tid('confirm-ok'));
        await back.waitExit('after the admin disconnect');
        assert.match(back.out, /Received DISCONNECT \(152\)/);
        await eventually(async () => (await text('detail-connected')) === 'disconnected',
                         'sp-gone disconnected and still shown');
        assert.ok(await page.locator(tid('error')).isHidden(), 'the banner went away after the successful action');
        await waitCounts('7/1/8', 'after disconnecting the persistent session');
      });

      await step('clear the disconnected persistent session, after confirming', async () => {
        await openDetail('sp-gone');
        assert.equal(await text('detail-connected'), 'disconnected');
        assert.match(await text('detail-disconnected_at'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
        assert.ok(await page.locator(tid('btn-disconnect')).isDisabled(), 'nothing to disconnect');
        assert.ok(await page.locator(tid('btn-clear')).isEnabled(), 'Clear enabled');
        await page.click(tid('btn-clear'));
        await page.locator(tid('confirm-dialog')).waitFor({ state: 'visible' });
        assert.match(await text('confirm-text'), /sp-gone/);
        await page.click(tid('confirm-ok'));
        await page.locator(tid('detail')).waitFor({ state: 'hidden' });
        await eventually(async () => /Cleared session/.test(await text('notice')), 'the "Cleared" notice');
        await eventually(async () => !(await rowIds()).includes('sp-gone'), 'sp-gone gone from the table');
        await waitCounts('7/0/7', 'after clearing');
        const r = await broker.api('GET', '/api/v1/sessions/sp-gone');
        assert.equal(r.status, 404, `the API still has sp-gone: ${JSON.stringify(r.body)}`);
        const list = await broker.sessions();
        assert.ok(!list.items.some((s) => s.client_id === 'sp-gone'), 'the API list no longer has sp-gone');
      });

      await step('sign out asks for the token again', async () => {
        await page.click(tid('logout'));
        await page.locator(tid('login-dialog')).waitFor({ state: 'visible' });
        assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the token left sessionStorage');
      });

      await step('signs in with a user name and password (HTTP basic)', async () => {
        await page.fill(tid('login-username'), 'ops');
        await page.fill(tid('login-password'), 'wrong');
        await page.click(tid('login-submit'));
        await eventually(async () => /rejected/i.test(await text('login-message')), 'wrong password refused');
        await page.fill(tid('login-password'), `pw-${token}`);
        await page.click(tid('login-submit'));
        await page.locator(tid('login-dialog')).waitFor({ state: 'hidden' });
        await waitCounts('7/0/7', 'counts after signing in again');
        assert.ok(!(await rowIds()).includes('sp-gone'));
      });

      assert.deepEqual(problems, [], 'no script errors, console errors or alert dialogs');
    } catch (e) {
      if (page) {
        const shot = path.join(os.tmpdir(), `amq-sessions-page-failure-${Date.now()}.png`);
        await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        console.error(`screenshot of the failure: ${shot}`);
      }
      console.error(`broker log (${broker.logPath}):\n${broker.log().slice(-3000)}`);
      throw e;
    } finally {
      if (context) await context.close().catch(() => {});
      context = null;
      for (const s of subs) s.kill();
      await broker.stop();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
