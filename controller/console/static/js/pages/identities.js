// Identities: list, create (with the enrollment JWT and its QR code), and
// one identity's page: enrollment state, disable and enable, reset MFA, what
// it can reach.

import * as api from '../api.js';
import { h, badge, tags, timeCell, fmtTime, busy, confirmAction, dialog, notify, yesNo, showError } from '../dom.js';
import { listView, detailTable, field, input, select, checkbox, parseList, submitForm, tabs, idLink } from '../widgets.js';
import { enrollmentPanel } from '../enrollment.js';
import { identityReach, reachPanel } from '../reach.js';

const TYPES = ['Device', 'User', 'Service', 'Default'];

// enrollmentState says how far an identity got: pending (with method),
// expired, enrolled, or nothing to enroll with.
export function enrollmentState(i) {
  const pending = Object.entries(i.enrollment || {}).filter(([, e]) => e && e.id);
  if (pending.length) {
    const [method, e] = pending[0];
    const expired = e.expiresAt && new Date(e.expiresAt).getTime() < Date.now();
    return badge(expired ? `${method} expired` : `${method} pending`, expired ? 'bad' : 'warn');
  }
  const a = i.authenticators || {};
  if (a.cert) return badge('enrolled', 'ok');
  if (a.updb) return badge('password', 'ok');
  return badge('not enrolled', 'muted');
}

function status(i) {
  return [i.disabled ? badge(i.disabledUntil ? `disabled until ${fmtTime(i.disabledUntil)}` : 'disabled', 'bad') : null,
    i.hasEdgeRouterConnection ? badge('online', 'ok') : null,
    i.isAdmin ? badge('admin', 'tag') : null,
    i.isMfaEnabled ? badge('MFA', 'tag') : null];
}

export function listPage(ctx) {
  const lv = listView({
    path: '/identities', sort: 'name asc', ctx, example: 'anyOf(roleAttributes) = "ops"',
    toolbar: h('a', { class: 'button primary write', href: '#/identities/new' }, 'New identity'),
    columns: [
      { title: 'Name', sort: 'name', render: (i) => idLink('identities', i) },
      { title: 'Type', sort: 'typeId', render: (i) => i.typeId },
      { title: 'Roles', render: (i) => tags(i.roleAttributes) },
      { title: 'Enrollment', render: enrollmentState },
      { title: 'Status', render: status },
      { title: 'Created', sort: 'createdAt', render: (i) => timeCell(i.createdAt) },
    ],
    empty: 'No identities match.',
  });
  return h('div', {}, h('h1', {}, 'Identities'), lv.el);
}

export async function createPage(ctx) {
  // Without the list the form still works, with the default policy only.
  const policies = await api.all('/auth-policies').catch((err) => { showError(err); return []; });
  const updbName = input('updbUsername', { placeholder: 'username', minlength: 4, maxlength: 100 });
  const method = select('enrollment', [['ott', 'One-time token (certificate)'], ['updb', 'Username and password'], ['none', 'None for now']], 'ott',
    { onchange: () => { updbName.closest('label').hidden = method.value !== 'updb'; } });
  const form = h('form', { class: 'stack narrow', id: 'identity-form' },
    field('Name', input('name', { required: true, maxlength: 255, autofocus: true })),
    field('Type', select('type', TYPES, 'Device')),
    field('Role attributes', input('roleAttributes', { placeholder: 'e.g. sales, laptops' }), 'Policies select identities by these (#sales).'),
    field('Enrollment', method),
    field('Username', updbName, 'The identity sets its password when it enrolls.'),
    field('Auth policy', select('authPolicyId', [['', 'Default'], ...policies.filter((p) => p.id !== 'default').map((p) => [p.id, p.name])], '')),
    checkbox('isAdmin', false, 'Administrator (may use the management API)'),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '#/identities' }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Create')));
  updbName.closest('label').hidden = true;
  submitForm(form, async (v) => {
    const body = { name: v.name.trim(), type: v.type, isAdmin: v.isAdmin, roleAttributes: parseList(v.roleAttributes) };
    if (v.authPolicyId) body.authPolicyId = v.authPolicyId;
    if (v.enrollment === 'ott') body.enrollment = { ott: true };
    if (v.enrollment === 'updb') body.enrollment = { updb: v.updbUsername.trim() };
    const env = await api.post('/identities', body);
    notify(`Identity ${body.name} created.`, 'ok');
    ctx.navigate(`identities/${env.data.id}`);
  });
  return h('div', {}, h('h1', {}, 'New identity'), form);
}

export async function detailPage(ctx, { id }) {
  const i = (await api.get(`/identities/${encodeURIComponent(id)}`)).data;
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const actions = h('div', { class: 'actions write' });
  const act = (label, fn, cls = '') => {
    const b = h('button', { class: cls });
    b.textContent = label;
    b.addEventListener('click', busy(b, fn));
    actions.append(b);
  };
  act('Edit', () => editDialog(i, reload));
  if (i.disabled) {
    act('Enable', async () => { await api.post(`/identities/${i.id}/enable`); notify(`${i.name} enabled.`, 'ok'); reload(); });
  } else {
    act('Disable', () => disableDialog(i, reload));
  }
  if (i.isMfaEnabled) {
    act('Reset MFA', async () => {
      if (!(await confirmAction(`Remove ${i.name}'s MFA enrollment? It signs in without a second factor until it enrolls again.`, 'Reset MFA'))) return;
      await api.del(`/identities/${i.id}/mfa`);
      notify(`MFA of ${i.name} removed.`, 'ok');
      reload();
    });
  }
  act('Clear sign-in locks', async () => { await api.del(`/identities/${i.id}/auth-locks`); notify('Locks cleared.', 'ok'); });
  if (!i.isDefaultAdmin) {
    act('Delete', async () => {
      if (!(await confirmAction(`Delete identity ${i.name}? Its certificates stop working at once.`))) return;
      await api.del(`/identities/${i.id}`);
      notify(`Identity ${i.name} deleted.`, 'ok');
      ctx.navigate('identities');
    }, 'danger');
  }

  const pending = Object.entries(i.enrollment || {}).filter(([, e]) => e && e.id);
  const enrollment = pending.length
    ? pending.map(([method, e]) => {
      const refresh = h('button', { class: 'small write' }, 'Extend 24 h');
      refresh.addEventListener('click', busy(refresh, async () => {
        await api.post(`/enrollments/${e.id}/refresh`, { expiresAt: new Date(Date.now() + 86400e3).toISOString() });
        notify('Enrollment extended; the JWT is new.', 'ok');
        reload();
      }));
      return enrollmentPanel({ method, ...e }, `${i.name}.jwt`, refresh);
    })
    : (i.authenticators && (i.authenticators.cert || i.authenticators.updb))
      ? null
      : h('section', { class: 'panel' }, h('h2', {}, 'Enrollment'), h('p', { class: 'muted' }, 'No pending enrollment.'),
        newEnrollmentButton(i, reload));

  const a = i.authenticators || {};
  return h('div', { class: 'identity' },
    h('h1', {}, i.name, ' ', status(i)),
    actions,
    enrollment,
    h('section', { class: 'panel' }, detailTable([
      ['ID', h('code', {}, i.id)],
      ['Type', i.typeId],
      ['Enrollment', enrollmentState(i)],
      ['Role attributes', tags(i.roleAttributes)],
      ['Administrator', yesNo(i.isAdmin)],
      ['MFA', yesNo(i.isMfaEnabled, 'enrolled', 'not enrolled')],
      ['Auth policy', i.authPolicy && i.authPolicy.name ? i.authPolicy.name : 'Default'],
      i.externalId ? ['External id', i.externalId] : null,
      ['Certificate', a.cert ? h('code', {}, a.cert.fingerprint) : '—'],
      ['Username', a.updb ? a.updb.username : '—'],
      ['Connected to a router', yesNo(i.hasEdgeRouterConnection)],
      ['SDK', [i.sdkInfo && i.sdkInfo.type, i.sdkInfo && i.sdkInfo.version].filter(Boolean).join(' ') || '—'],
      ['OS', [i.envInfo && i.envInfo.os, i.envInfo && i.envInfo.arch].filter(Boolean).join(' ') || '—'],
      i.disabledAt ? ['Disabled at', fmtTime(i.disabledAt)] : null,
      ['Created', fmtTime(i.createdAt)],
      ['Updated', fmtTime(i.updatedAt)],
    ])),
    tabs([
      { key: 'reach', title: 'Services it can reach', render: () => reachPanel(() => identityReach(i.id), 'services') },
      { key: 'routers', title: 'Edge routers', render: () => listView({ path: `/identities/${i.id}/edge-routers`, ctx, columns: routerColumns() }).el },
      { key: 'policies', title: 'Service policies', render: () => listView({ path: `/identities/${i.id}/service-policies`, ctx, columns: policyColumns() }).el },
      { key: 'sessions', title: 'API sessions', render: () => listView({ path: '/api-sessions', filter: `identityId = ${api.quote(i.id)}`, search: '', ctx, columns: apiSessionColumns() }).el },
      { key: 'signins', title: 'Sign-ins', render: () => listView({ path: '/auth-events', filter: `identityId = ${api.quote(i.id)}`, search: '', sort: 'createdAt desc', ctx, columns: signInColumns() }).el },
    ]));
}

function newEnrollmentButton(i, reload) {
  const b = h('button', { class: 'write' }, 'New one-time enrollment');
  b.addEventListener('click', busy(b, async () => {
    await api.post('/enrollments', { method: 'ott', identityId: i.id, expiresAt: new Date(Date.now() + 86400e3).toISOString() });
    reload();
  }));
  return b;
}

function routerColumns() {
  return [
    { title: 'Name', sort: 'name', render: (r) => idLink('routers', r) },
    { title: 'Online', render: (r) => yesNo(r.isOnline, 'online', 'offline') },
    { title: 'Roles', render: (r) => tags(r.roleAttributes) },
  ];
}

function policyColumns() {
  return [
    { title: 'Name', sort: 'name', render: (p) => h('a', { href: `#/policies/service/${p.id}` }, p.name) },
    { title: 'Type', sort: 'type', render: (p) => p.type },
    { title: 'Services', render: (p) => tags((p.serviceRolesDisplay || []).map((r) => r.name)) },
  ];
}

export function apiSessionColumns() {
  return [
    { title: 'Identity', render: (s) => idLink('identities', s.identity) },
    { title: 'Address', render: (s) => s.ipAddress },
    { title: 'MFA', render: (s) => (s.isMfaRequired ? yesNo(s.isMfaComplete, 'done', 'pending') : h('span', { class: 'muted' }, 'n/a')) },
    { title: 'Last active', render: (s) => timeCell(s.lastActivityAt) },
    { title: 'Created', sort: 'createdAt', render: (s) => timeCell(s.createdAt) },
  ];
}

export function signInColumns() {
  return [
    { title: 'When', sort: 'createdAt', render: (e) => timeCell(e.createdAt) },
    { title: 'Event', sort: 'eventType', render: (e) => badge(e.eventType, /failure|locked/.test(e.eventType) ? 'bad' : 'ok') },
    { title: 'Identity', render: (e) => (e.identityId ? idLink('identities', e.identityId) : h('span', { class: 'muted' }, 'unknown')) },
    { title: 'From', sort: 'sourceAddress', render: (e) => e.sourceAddress },
    { title: 'Reason', render: (e) => e.reason || '' },
  ];
}

function editDialog(i, reload) {
  const form = h('form', { class: 'stack' },
    field('Name', input('name', { value: i.name, required: true, maxlength: 255 })),
    field('Type', select('type', TYPES, i.typeId)),
    field('Role attributes', input('roleAttributes', { value: (i.roleAttributes || []).join(', ') })),
    checkbox('isAdmin', i.isAdmin, 'Administrator'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save')));
  const d = dialog(`Edit ${i.name}`, form);
  submitForm(form, async (v) => {
    await api.patch(`/identities/${i.id}`, { name: v.name.trim(), type: v.type, isAdmin: v.isAdmin, roleAttributes: parseList(v.roleAttributes) });
    d.close();
    notify('Saved.', 'ok');
    reload();
  });
}

function disableDialog(i, reload) {
  const form = h('form', { class: 'stack' },
    h('p', {}, `${i.name} stops authenticating, and its API sessions and sessions end at once.`),
    field('For how long', select('durationMinutes', [['0', 'Until enabled again'], ['15', '15 minutes'], ['60', '1 hour'], ['1440', '1 day'], ['10080', '1 week']], '0')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger' }, 'Disable')));
  const d = dialog(`Disable ${i.name}`, form);
  submitForm(form, async (v) => {
    await api.post(`/identities/${i.id}/disable`, { durationMinutes: Number(v.durationMinutes) });
    d.close();
    notify(`${i.name} disabled.`, 'ok');
    reload();
  });
}
