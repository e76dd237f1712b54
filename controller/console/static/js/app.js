// The console's entry point: sign-in, the frame around every page and the
// hash router (#/identities/ID) that picks the page.

import * as api from './api.js';
import { h, replace, showError, clearNotices, setNoticeArea, run, notify } from './dom.js';
import { field, input, tabs, submitForm } from './widgets.js';
import * as dashboard from './pages/dashboard.js';
import * as identities from './pages/identities.js';
import * as services from './pages/services.js';
import * as policies from './pages/policies.js';
import * as routers from './pages/routers.js';
import * as activity from './pages/activity.js';
import * as audit from './pages/audit.js';
import * as tokens from './pages/tokens.js';

const routes = [
  ['', dashboard.page, 'Dashboard'],
  ['events', audit.eventsPage, 'Events'],
  ['identities', identities.listPage, 'Identities'],
  ['identities/new', identities.createPage],
  ['identities/:id', identities.detailPage],
  ['services', services.listPage, 'Services'],
  ['services/new', services.createPage],
  ['services/:id', services.detailPage],
  ['configs', services.configsPage, 'Configs'],
  ['configs/new', services.configCreatePage],
  ['configs/:id', services.configDetailPage],
  ['policies', policies.listPage, 'Policies'],
  ['policies/:kind/new', policies.createPage],
  ['policies/:kind/:id', policies.detailPage],
  ['reach', policies.reachPage, 'Who can reach what'],
  ['routers', routers.listPage, 'Routers'],
  ['routers/new', routers.createPage],
  ['routers/:id', routers.detailPage],
  ['sessions', activity.sessionsPage, 'Sessions'],
  ['circuits', activity.circuitsPage, 'Circuits'],
  ['audit', audit.auditPage, 'Audit log'],
  ['sign-ins', audit.signInsPage, 'Sign-ins'],
  ['tokens', tokens.listPage, 'API tokens'],
];

const nav = [
  ['Overview', ['', 'events']],
  ['Access', ['identities', 'services', 'configs', 'policies', 'reach']],
  ['Network', ['routers', 'sessions', 'circuits']],
  ['Administration', ['audit', 'sign-ins', 'tokens']],
];

const root = document.getElementById('app');
let leaving = []; // what the page on screen asked to run when it is left
let renderSeq = 0;

function match(hash) {
  const parts = hash.replace(/^#\/?/, '').split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
  for (const [pattern, fn] of routes) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    if (want.every((w, i) => (w.startsWith(':') ? ((params[w.slice(1)] = parts[i]), true) : w === parts[i]))) return { fn, params, pattern };
  }
  return null;
}

function hashQuery() {
  const i = location.hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : location.hash.slice(i + 1));
}

export function navigate(path) { location.hash = `#/${path}`; }

function runAll(fns) {
  for (const fn of fns) { try { fn(); } catch (err) { console.error(err); } }
}

function leave() {
  runAll(leaving);
  leaving = [];
}

async function render() {
  leave();
  const mine = ++renderSeq;
  const s = api.currentSession();
  if (!s) return renderSignIn();
  if (!root.querySelector('.shell')) renderShell(s);
  const m = match(location.hash);
  const main = root.querySelector('main');
  const top = m && m.pattern.split('/')[0];
  for (const a of root.querySelectorAll('.sidebar a')) a.classList.toggle('active', a.dataset.route === top);
  clearNotices();
  if (!m) { replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/' }, 'Go to the dashboard.'))); return; }
  const mineLeaving = [];
  const ctx = { params: m.params, query: hashQuery(), onLeave: (fn) => mineLeaving.push(fn), navigate, readOnly: !!s.readOnly };
  replace(main, h('p', { class: 'muted loading' }, 'Loading…'));
  let node;
  try {
    node = await m.fn(ctx, m.params);
  } catch (err) {
    showError(err);
    node = [h('h1', {}, 'Could not load this page'), h('p', { class: 'error' }, typeof err.describe === 'function' ? err.describe() : String(err))];
  }
  if (mine !== renderSeq || !api.currentSession()) {
    runAll(mineLeaving); // another page (or the sign-in) took over meanwhile
    return;
  }
  leaving = mineLeaving;
  replace(main, node);
}

function renderShell(s) {
  document.body.classList.toggle('read-only', !!s.readOnly);
  const links = nav.map(([title, keys]) => h('div', { class: 'nav-group' }, h('h3', {}, title),
    keys.map((k) => h('a', { href: `#/${k}`, data: { route: k } }, routes.find((r) => r[0] === k)[2]))));
  const notices = h('div', { class: 'notices', 'aria-live': 'polite' });
  setNoticeArea(notices);
  replace(root, h('div', { class: 'shell' },
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/' }, h('img', { src: 'logo.svg', alt: '' }), 'Ostium'),
      h('span', { class: 'spacer' }),
      s.readOnly ? h('span', { class: 'badge warn', title: 'This credential can read but not change anything' }, 'read-only') : null,
      h('span', { class: 'who' }, s.kind === 'token' ? `API token ${s.name}` : s.name),
      h('button', { class: 'small', onclick: signOut }, 'Sign out')),
    h('nav', { class: 'sidebar' }, links),
    h('div', { class: 'content' }, notices, h('main', {}))));
}

async function signOut() {
  const s = api.currentSession();
  let failed = null;
  if (s && s.kind === 'session') {
    try { await api.del('/current-api-session'); } catch (err) { failed = err; }
  }
  api.setSession(null);
  history.replaceState(null, '', '#/');
  await render();
  // The session may still be valid on the controller: say so.
  if (failed && failed.status !== 401) showError(failed);
}

// ---------------------------------------------------------------------------
// Sign-in: a password (with the MFA code when the identity enrolled one), or
// an API token.

function renderSignIn(message) {
  document.body.classList.remove('read-only');
  const notices = h('div', { class: 'notices' });
  setNoticeArea(notices);
  const card = h('div', { class: 'signin-card' },
    h('h1', {}, h('img', { src: 'logo.svg', alt: '' }), 'Ostium console'),
    notices,
    tabs([
      { key: 'password', title: 'Password', render: passwordForm },
      { key: 'token', title: 'API token', render: tokenForm },
    ]));
  replace(root, h('div', { class: 'signin' }, card));
  if (message) notify(message, 'warn', { sticky: true });
  const first = card.querySelector('input');
  if (first) first.focus();
}

function passwordForm() {
  const form = h('form', { class: 'stack', id: 'signin-password' },
    field('Username', input('username', { autocomplete: 'username', required: true })),
    field('Password', input('password', { type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  return submitForm(form, async (v) => {
    const env = await api.post('/authenticate?method=password', { username: v.username, password: v.password }, { session: null });
    const d = env.data || {};
    const token = d.token || env.headers.get('zt-session');
    const s = { token, kind: 'session', name: v.username, readOnly: false };
    const mfa = (d.authQueries || []).find((q) => q.provider === 'ziti' || q.typeId === 'MFA');
    if (mfa) return replace(form.parentElement, mfaForm(s, d));
    await finishSignIn(s);
  });
}

function mfaForm(s, sessionDetail) {
  const form = h('form', { class: 'stack', id: 'signin-mfa' },
    h('p', {}, 'Enter the code from your authenticator app, or a recovery code.'),
    field('Code', input('code', { autocomplete: 'one-time-code', inputmode: 'numeric', required: true, maxlength: 16 })),
    h('button', { type: 'submit', class: 'primary' }, 'Verify'));
  if (sessionDetail.isMfaRequired && !(sessionDetail.authQueries || []).length) form.prepend(h('p', { class: 'error' }, 'MFA is required but not enrolled.'));
  setTimeout(() => form.querySelector('input').focus());
  return submitForm(form, async (v) => {
    await api.post('/authenticate/mfa', { code: v.code.trim() }, { base: api.CLIENT_BASE, session: s });
    await finishSignIn(s);
  });
}

function tokenForm() {
  const form = h('form', { class: 'stack', id: 'signin-token' },
    field('API token', input('token', { type: 'password', autocomplete: 'off', required: true }), 'An API token from `ostium create api-token` or the API tokens page.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  return submitForm(form, async (v) => {
    const s = { token: v.token.trim(), kind: 'token', name: '', readOnly: true };
    const t = (await api.get('/current-api-token', undefined, { session: s })).data;
    s.name = t.name;
    s.readOnly = t.role !== 'admin';
    await finishSignIn(s);
  });
}

async function finishSignIn(s) {
  if (s.kind === 'session') {
    // The management API serves administrators only: a session it refuses
    // is not one the console can use.
    try {
      const id = (await api.get('/current-identity', undefined, { session: s })).data;
      s.name = id.name || s.name;
    } catch (err) {
      if (err.status === 401) {
        await api.call('DELETE', '/current-api-session', undefined, { session: s }).catch(() => {});
        throw new api.ApiError(401, { error: { code: 'UNAUTHORIZED', message: 'this identity may not administer the network' } });
      }
      throw err;
    }
  }
  api.setSession(s);
  root.replaceChildren();
  if (!location.hash || location.hash === '#') location.hash = '#/';
  render();
}

api.whenUnauthorized(() => {
  api.setSession(null);
  renderSeq++;
  leave();
  renderSignIn('Your session has ended. Sign in again.');
});

window.addEventListener('hashchange', () => run(render));
run(render);
