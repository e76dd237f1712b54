// What happened: the audit log of management writes (with filters), the
// sign-in record, and the live event stream.

import * as api from '../api.js';
import { h, replace, timeCell, badge, showError } from '../dom.js';
import { listView, field, input, select, submitForm } from '../widgets.js';
import { signInColumns } from './identities.js';
import { subscribe, summary, eventTime } from '../events.js';

// actorOf names who did something: an identity or an API token.
export function actorOf(e) {
  const a = e.actor;
  if (!a) return h('span', { class: 'muted' }, e.actorId || 'system');
  if (typeof a === 'string') return a;
  const label = a.name || a.id || '';
  const kind = a.type || a.kind || '';
  if (/token/i.test(kind)) return h('span', {}, badge('token', 'tag'), ' ', label);
  return a.id ? h('a', { href: `#/identities/${a.id}` }, label) : label;
}

const ENTITY_TYPES = ['', 'identities', 'services', 'configs', 'config-types', 'service-policies', 'edge-router-policies',
  'service-edge-router-policies', 'edge-routers', 'terminators', 'posture-checks', 'auth-policies', 'external-jwt-signers',
  'cas', 'enrollments', 'authenticators', 'api-tokens'];

const localToISO = (v) => (v ? new Date(v).toISOString() : '');

export function auditPage(ctx) {
  const f = { actor: '', entityType: '', entityId: '', action: '', from: '', to: '' };
  const form = h('form', { class: 'filters', id: 'audit-filters' },
    field('Actor', input('actor', { placeholder: 'identity or token name or id' })),
    field('Entity type', select('entityType', ENTITY_TYPES.map((t) => [t, t || 'any']), '')),
    field('Entity id', input('entityId')),
    field('Action', select('action', [['', 'any'], 'create', 'update', 'delete'], '')),
    field('From', input('from', { type: 'datetime-local' })),
    field('To', input('to', { type: 'datetime-local' })),
    h('button', { type: 'submit', class: 'small' }, 'Apply'));
  const filter = () => {
    const parts = [];
    if (f.actor) parts.push(`(actor.name = ${api.quote(f.actor)} or actor.id = ${api.quote(f.actor)})`);
    if (f.entityType) parts.push(`entityType = ${api.quote(f.entityType)}`);
    if (f.entityId) parts.push(`entityId = ${api.quote(f.entityId)}`);
    if (f.action) parts.push(`action = ${api.quote(f.action)}`);
    if (f.from) parts.push(`createdAt >= datetime(${localToISO(f.from)})`);
    if (f.to) parts.push(`createdAt < datetime(${localToISO(f.to)})`);
    return parts.join(' and ');
  };
  const lv = listView({
    path: '/audit-events', sort: 'createdAt desc', search: '', filter, ctx,
    columns: [
      { title: 'When', sort: 'createdAt', render: (e) => timeCell(e.createdAt || e.timestamp) },
      { title: 'Actor', render: actorOf },
      { title: 'Action', sort: 'action', render: (e) => badge(e.action, e.action === 'delete' ? 'bad' : 'tag') },
      { title: 'Entity', sort: 'entityType', render: (e) => [e.entityType, ' ', h('code', {}, e.entityId || '')] },
      { title: 'From', render: (e) => e.sourceAddress || e.source || '' },
    ],
    empty: 'No audit records match.',
  });
  submitForm(form, (v) => { Object.assign(f, v); return lv.reload(); });
  return h('div', {}, h('h1', {}, 'Audit log'), h('p', { class: 'muted' }, 'Every change made through the management API: who, from where, what and when.'), form, lv.el);
}

export function signInsPage(ctx) {
  const kind = select('kind', [['', 'all'], ['failures', 'failures and locks'], ['successes', 'successes']], 'failures');
  const filter = () => (kind.value === 'failures' ? 'eventType in ["password-failure", "cert-failure", "ext-jwt-failure", "mfa-failure", "locked"]'
    : kind.value === 'successes' ? 'eventType in ["password-success", "cert-success", "ext-jwt-success", "mfa-success"]' : '');
  const lv = listView({ path: '/auth-events', sort: 'createdAt desc', search: 'sourceAddress', filter, ctx, columns: signInColumns(), toolbar: kind, example: 'identityId = "…"' });
  kind.addEventListener('change', () => lv.reload());
  return h('div', {}, h('h1', {}, 'Sign-ins'), lv.el);
}

const EVENT_TYPES = ['circuit', 'entity', 'apiSession', 'session', 'router', 'link', 'auth'];

export function eventsPage(ctx) {
  const list = h('ol', { class: 'events', id: 'events-list' });
  const state = badge('connecting', 'muted');
  let paused = false;
  let stop = () => {};
  const boxes = EVENT_TYPES.map((t) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: t, checked: true }), ' ', t));
  const start = () => {
    stop();
    const types = boxes.filter((b) => b.querySelector('input').checked).map((b) => b.querySelector('input').name);
    stop = subscribe(types.length === EVENT_TYPES.length ? [] : types, (ev) => {
      if (paused) return;
      const detail = h('pre', { class: 'json', hidden: true }, JSON.stringify(ev, null, 2));
      list.prepend(h('li', { onclick: () => { detail.hidden = !detail.hidden; } },
        timeCell(eventTime(ev) || new Date().toISOString()), ' ', badge(ev.type || 'event', 'tag'), ' ', h('span', { class: 'muted' }, summary(ev)), detail));
      while (list.children.length > 500) list.lastChild.remove();
    }, (s, detail) => {
      state.textContent = s;
      state.className = `badge ${s === 'live' ? 'ok' : s === 'retrying' ? 'warn' : 'muted'}`;
      if (s === 'unavailable') replace(list, h('li', { class: 'muted' }, 'This controller does not serve an event stream.'));
      if (s === 'error' && detail) showError(detail);
    });
  };
  const form = h('form', { class: 'inline-form' }, boxes, h('button', { type: 'submit', class: 'small' }, 'Apply'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); start(); });
  const pause = h('button', { class: 'small', onclick: () => { paused = !paused; pause.textContent = paused ? 'Resume' : 'Pause'; } }, 'Pause');
  start();
  ctx.onLeave(() => stop());
  return h('div', {}, h('h1', {}, 'Events ', state), h('div', { class: 'toolbar' }, form, pause,
    h('button', { class: 'small', onclick: () => list.replaceChildren() }, 'Clear')), list);
}
