// Gantry dashboard: polls the admin API every POLL_MS and renders it. Plain browser
// JavaScript, no framework and no build step; every value goes into the page as text
// (textContent), never as markup.
'use strict';

const TOKEN_KEY = 'gantry.adminToken';
const POLL_MS = 2000;

/** Thrown by api() on 401: the token is missing or wrong. */
class Unauthorized extends Error {}

const $ = (id) => document.getElementById(id);
let timer;
/** Bumped when polling restarts or stops, so an answer of an older round is dropped. */
let round = 0;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Calls the admin API with the bearer token; resolves to { status, body }. */
async function api(method, path) {
  const headers = { accept: 'application/json' };
  if (token() !== '') headers.authorization = `Bearer ${token()}`;
  const res = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
  if (res.status === 401) throw new Unauthorized();
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: the status says enough.
  }
  return { status: res.status, body };
}

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function row(cells, attrs = {}) {
  const tr = document.createElement('tr');
  for (const [k, v] of Object.entries(attrs)) tr.dataset[k] = v;
  for (const c of cells) tr.append(c instanceof Node ? c : el('td', c));
  return tr;
}

function td(content, className) {
  const cell = el('td', null, className);
  if (content instanceof Node) cell.append(content);
  else cell.textContent = content === undefined || content === null ? '' : String(content);
  return cell;
}

function badge(text, tone) {
  return el('span', text, `badge ${tone}`);
}

const fmt = {
  rps: (n) => (n === null || n === undefined ? '–' : n >= 100 ? n.toFixed(0) : n.toFixed(1)),
  ratio: (n) => (n === null || n === undefined ? '–' : `${(n * 100).toFixed(n > 0 && n < 0.01 ? 2 : 1)}%`),
  ms: (n) => (n === null || n === undefined ? '–' : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : n >= 10 ? `${n.toFixed(0)} ms` : `${n.toFixed(2)} ms`),
  time: (iso) => (iso ? new Date(iso).toLocaleString() : ''),
};

/** The rate cells (req/s, errors, p50, p99, total) of a route, upstream or target. */
function rateCells(r) {
  const errors = td(fmt.ratio(r?.errorRatio), 'num');
  if (r && r.errorRatio > 0) errors.classList.add(r.errorRatio >= 0.05 ? 'bad' : 'warn');
  return [td(fmt.rps(r?.rps), 'num'), errors, td(fmt.ms(r?.p50Ms), 'num'), td(fmt.ms(r?.p99Ms), 'num'), td(r ? r.total : '–', 'num')];
}

/** `GET /items/:id host=api.example.com` from a route's match block. */
function formatMatch(match) {
  const parts = [];
  if (Array.isArray(match.methods)) parts.push(match.methods.join(','));
  for (const [k, v] of Object.entries(match)) {
    if (k === 'methods') continue;
    if (k === 'path') parts.push(String(v));
    else parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return parts.join(' ');
}

function renderSummary(s) {
  $('config-version').textContent = `v${s.config.version}`;
  $('config-hash').textContent = String(s.config.hash).slice(0, 12);
  $('config-hash').title = `${s.config.hash} — ${s.config.file}`;
  $('config-loaded').textContent = fmt.time(s.config.loadedAt);
  $('config-loaded').dateTime = s.config.loadedAt;
  $('mode').textContent = s.mode === 'cluster' ? `cluster, ${s.workers.length} workers` : `pid ${s.pid}, up ${Math.round(s.uptimeSeconds)} s`;
  $('draining').hidden = !s.draining;
}

function renderListeners(s) {
  const rows = Object.entries(s.listeners).map(([name, a]) => row([name, `${a.host}:${a.port}`], { listener: name }));
  $('listeners').tBodies[0].replaceChildren(...rows);
}

function renderRoutes(s, stats) {
  const rows = s.routes.map((r) => {
    const target = td(r.target);
    if (Array.isArray(r.listeners)) target.append(el('div', `on ${r.listeners.join(', ')}`, 'quiet'));
    return row([td(r.name), td(el('code', formatMatch(r.match))), target, td(r.policies.join(', ') || '–', r.policies.length ? '' : 'quiet'), ...rateCells(stats?.routes[r.name])], { route: r.name });
  });
  // Requests no route matched (404s) are counted under "(unmatched)".
  const unmatched = stats?.routes['(unmatched)'];
  if (unmatched) rows.push(row([td('(unmatched)', 'quiet'), td(''), td('404'), td(''), ...rateCells(unmatched)], { route: '(unmatched)' }));
  $('routes').tBodies[0].replaceChildren(...rows);
  $('window').textContent = stats && stats.windowSeconds ? `rates over the last ${Math.round(stats.windowSeconds)} s` : '';
}

function healthBadge(t) {
  if (t.state === 'ejected') return badge('ejected', 'warn');
  return t.healthy ? badge('healthy', 'ok') : badge('unhealthy', 'bad');
}

function circuitBadge(state) {
  if (!state) return el('span', '–', 'quiet');
  return badge(state, state === 'closed' ? 'ok' : state === 'open' ? 'bad' : 'warn');
}

function renderUpstreams(s, stats) {
  const rows = [];
  for (const u of s.upstreams) {
    const us = stats?.upstreams[u.name];
    const up = u.targets.filter((t) => t.healthy).length;
    const health = badge(`${up}/${u.targets.length} healthy`, up === u.targets.length ? 'ok' : up === 0 ? 'bad' : 'warn');
    const name = td(u.name);
    if (u.panic) name.append(' ', badge('panic', 'bad'));
    rows.push(row([name, td(health), td(circuitBadge(u.breaker?.state)), td(u.inFlight ?? '', 'num'), ...rateCells(us)], { upstream: u.name }));
    rows[rows.length - 1].className = 'upstream';
    for (const t of u.targets) {
      const tr = row([td(t.url), td(healthBadge(t)), td(circuitBadge(t.circuit)), td(t.inFlight, 'num'), ...rateCells(us?.targets[t.url])], {
        upstream: u.name,
        target: t.url,
        health: t.state ?? (t.healthy ? 'healthy' : 'unhealthy'),
      });
      tr.className = 'target';
      rows.push(tr);
    }
  }
  $('upstreams').tBodies[0].replaceChildren(...rows);
}

function renderReloads(s) {
  const list = s.recentReloads ?? (s.lastReload ? [s.lastReload] : []);
  const rows = list.map((r) => {
    const issues = el('ul', null, 'issues');
    for (const i of r.issues ?? []) issues.append(el('li', i, 'mono'));
    return row([td(fmt.time(r.at)), td(r.ok ? badge('ok', 'ok') : badge('failed', 'bad')), td(r.version ? `v${r.version}` : ''), td(issues)], { reload: r.ok ? 'ok' : 'failed' });
  });
  $('reloads').tBodies[0].replaceChildren(...rows);
  $('no-reloads').hidden = rows.length > 0;
}

function setLive(ok, message) {
  const live = $('live');
  live.classList.toggle('stale', !ok);
  live.textContent = ok ? `live · ${new Date().toLocaleTimeString()}` : 'not updating';
  $('fetch-error').hidden = ok;
  if (!ok) $('fetch-error').textContent = message;
}

function showLogin(message) {
  round++;
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  $('content').hidden = true;
  $('summary').hidden = true;
  $('actions').hidden = true;
  $('login').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

function showDashboard() {
  $('login').hidden = true;
  $('content').hidden = false;
  $('summary').hidden = false;
  $('actions').hidden = false;
}

/** One poll: status and stats together; schedules the next one. */
async function poll() {
  clearTimeout(timer);
  if (document.hidden) return;
  const mine = round;
  try {
    const [status, stats] = await Promise.all([api('GET', '/api/status'), api('GET', '/api/stats')]);
    if (mine !== round) return;
    if (status.status !== 200) throw new Error(`GET /api/status answered ${status.status}${status.body?.detail ? `: ${status.body.detail}` : ''}`);
    const s = status.body;
    const st = stats.status === 200 ? stats.body : null;
    renderSummary(s);
    renderListeners(s);
    renderRoutes(s, st);
    renderUpstreams(s, st);
    renderReloads(s);
    showDashboard();
    setLive(true);
  } catch (e) {
    if (mine !== round) return;
    if (e instanceof Unauthorized) return showLogin(token() === '' ? '' : 'The admin token was not accepted.');
    setLive(false, `Cannot read the admin API: ${e.message}`);
  }
  timer = setTimeout(poll, POLL_MS);
}

function start() {
  round++;
  void poll();
}

async function reload() {
  const button = $('reload');
  const out = $('reload-result');
  button.disabled = true;
  try {
    const r = await api('POST', '/api/reload');
    const b = r.body ?? {};
    out.replaceChildren();
    if (r.status === 200) {
      out.className = 'result ok';
      out.dataset.result = 'ok';
      out.textContent = `Reloaded: config v${b.version} (${String(b.hash).slice(0, 12)}) is serving.`;
    } else {
      out.className = 'result bad';
      out.dataset.result = 'failed';
      out.textContent = r.status === 422 ? `Reload failed; config v${b.version} keeps serving.` : `Reload answered ${r.status}: ${b.detail ?? ''}`;
      const issues = el('ul', null, 'issues');
      for (const i of b.issues ?? []) issues.append(el('li', i, 'mono'));
      out.append(issues);
    }
    out.hidden = false;
    start();
  } catch (e) {
    if (e instanceof Unauthorized) return showLogin('The admin token was not accepted.');
    out.className = 'result bad';
    out.dataset.result = 'failed';
    out.textContent = `Reload request failed: ${e.message}`;
    out.hidden = false;
  } finally {
    button.disabled = false;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (t === '') return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('login-error').hidden = true;
    start();
  });
  $('reload').addEventListener('click', () => void reload());
  $('logout').addEventListener('click', () => showLogin(''));
  // A hidden tab stops polling; it catches up when shown again.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && token() !== '' && $('login').hidden) start();
  });
  if (token() === '') showLogin('');
  else start();
});
