// The dashboard: how big the network is, what is up, what is flowing, what
// just happened (live from the event stream) and who failed to sign in.

import * as api from '../api.js';
import { h, replace, timeCell, badge, showError } from '../dom.js';
import { subscribe, summary, eventTime } from '../events.js';

// optional runs a request for an endpoint this controller may not serve yet;
// a 404 becomes null, other failures are shown.
export async function optional(fn) {
  try {
    return await fn();
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

function card(title, value, href, detail, id) {
  return h('a', { class: 'card', href, id }, h('span', { class: 'card-title' }, title),
    h('span', { class: 'card-value' }, value ?? '—'), h('span', { class: 'card-detail' }, detail || ''));
}

const dayAgo = () => new Date(Date.now() - 86400e3).toISOString();
const failedSignIns = () => `eventType in ["password-failure", "cert-failure", "ext-jwt-failure", "mfa-failure", "locked"] and createdAt >= datetime(${dayAgo()})`;

export async function page(ctx) {
  const cards = h('div', { class: 'cards' });
  const failures = h('tbody');
  const events = h('ol', { class: 'events', id: 'dashboard-events' });
  const streamState = badge('connecting', 'muted');

  async function refresh() {
    const [ids, svcs, pols, routers, links, circuits, apiSessions, failed] = await Promise.all([
      api.count('/identities'), api.count('/services'), api.count('/service-policies'),
      api.all('/edge-routers', { max: 2000 }),
      optional(() => api.all('/links', { max: 5000 })),
      optional(() => api.count('/circuits')),
      api.count('/api-sessions'),
      api.page('/auth-events', { limit: 5, filter: failedSignIns(), sort: 'createdAt desc' }),
    ]);
    const online = routers.filter((r) => r.isOnline).length;
    const up = links ? links.filter((l) => l.state === 'connected').length : null;
    replace(cards,
      card('Identities', ids, '#/identities'),
      card('Services', svcs, '#/services'),
      card('Service policies', pols, '#/policies'),
      card('Routers online', `${online} / ${routers.length}`, '#/routers', online < routers.length ? `${routers.length - online} offline` : 'all online', 'card-routers'),
      card('Links', links ? `${up} / ${links.length}` : null, '#/routers', links ? 'connected' : 'not reported by this controller'),
      card('Circuits', circuits, '#/circuits', circuits === null ? 'not reported by this controller' : 'open now', 'card-circuits'),
      card('API sessions', apiSessions, '#/sessions'),
      card('Failed sign-ins', failed.total, '#/sign-ins', 'last 24 hours', 'card-failed'));
    replace(failures, failed.items.length === 0
      ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No failed sign-ins in the last 24 hours.'))
      : failed.items.map((e) => h('tr', {}, h('td', {}, timeCell(e.createdAt)), h('td', {}, badge(e.eventType, 'bad')),
        h('td', {}, e.identityId ? h('a', { href: `#/identities/${e.identityId}` }, e.identityId) : h('span', { class: 'muted' }, 'unknown')),
        h('td', {}, e.sourceAddress), h('td', {}, e.reason || ''))));
  }

  try { await refresh(); } catch (err) { showError(err); }
  const timer = setInterval(() => { if (!document.hidden) refresh().catch(showError); }, 5000);
  ctx.onLeave(() => clearInterval(timer));

  const stop = subscribe([], (ev) => {
    events.prepend(h('li', {}, timeCell(eventTime(ev) || new Date().toISOString()), ' ', badge(ev.type || 'event', 'tag'), ' ', h('span', { class: 'muted' }, summary(ev))));
    while (events.children.length > 50) events.lastChild.remove();
  }, (state, detail) => {
    streamState.textContent = state;
    streamState.className = `badge ${state === 'live' ? 'ok' : state === 'retrying' ? 'warn' : 'muted'}`;
    if (state === 'unavailable') replace(events, h('li', { class: 'muted' }, 'This controller does not serve an event stream.'));
    if (state === 'error' && detail) showError(detail);
  });
  ctx.onLeave(stop);

  return h('div', { class: 'dashboard' },
    h('h1', {}, 'Dashboard'),
    cards,
    h('div', { class: 'columns' },
      h('section', { class: 'panel' }, h('h2', {}, 'Recent events ', streamState, h('a', { class: 'more', href: '#/events' }, 'all events')), events),
      h('section', { class: 'panel' }, h('h2', {}, 'Failed sign-ins', h('a', { class: 'more', href: '#/sign-ins' }, 'all sign-ins')),
        h('table', { class: 'list compact' }, h('thead', {}, h('tr', {}, ['When', 'What', 'Identity', 'From', 'Why'].map((t) => h('th', {}, t)))), failures))));
}
