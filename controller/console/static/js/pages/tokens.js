// API tokens for automation: list, create (the secret is shown once) and
// revoke.

import * as api from '../api.js';
import { h, timeCell, fmtTime, badge, busy, confirmAction, dialog, notify, copyButton } from '../dom.js';
import { listView, field, input, select, submitForm } from '../widgets.js';
import { actorOf } from './audit.js';

const DAY = 86400e3;

export function listPage(ctx) {
  let lv = null;
  const newButton = h('button', { class: 'primary write', onclick: () => createDialog(() => lv.reload()) }, 'New API token');
  lv = listView({
    path: '/api-tokens', sort: 'createdAt desc', ctx, toolbar: newButton,
    columns: [
      { title: 'Name', sort: 'name', render: (t) => h('strong', {}, t.name) },
      { title: 'Role', sort: 'role', render: (t) => badge(t.role, t.role === 'admin' ? 'warn' : 'tag') },
      { title: 'Expires', sort: 'expiresAt', render: (t) => (new Date(t.expiresAt).getTime() < Date.now() ? badge('expired', 'bad') : h('span', { title: fmtTime(t.expiresAt) }, timeCell(t.expiresAt))) },
      { title: 'Created by', render: (t) => actorOf({ actor: t.createdBy }) },
      { title: 'Last used', sort: 'lastUsedAt', render: (t) => (t.lastUsedAt ? timeCell(t.lastUsedAt) : h('span', { class: 'muted' }, 'never')) },
      { title: 'Created', sort: 'createdAt', render: (t) => timeCell(t.createdAt) },
      {
        title: '', render: (t) => {
          const b = h('button', { class: 'small danger write' }, 'Revoke');
          b.addEventListener('click', busy(b, async () => {
            if (!(await confirmAction(`Revoke token ${t.name}? Anything using it is refused at once.`, 'Revoke'))) return;
            await api.del(`/api-tokens/${t.id}`);
            notify(`Token ${t.name} revoked.`, 'ok');
            lv.reload();
          }));
          return b;
        },
      },
    ],
    empty: 'No API tokens.',
  });
  return h('div', {}, h('h1', {}, 'API tokens'),
    h('p', { class: 'muted' }, 'Tokens let scripts and CI use the management API: send one as "Authorization: Bearer TOKEN". A read-only token may list and read everything and change nothing.'),
    lv.el);
}

function createDialog(reload) {
  const expiry = select('expires', [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year'], ['custom', 'On a date…']], '30');
  const date = input('expiresAt', { type: 'date', hidden: true });
  expiry.addEventListener('change', () => { date.hidden = expiry.value !== 'custom'; });
  const form = h('form', { class: 'stack', id: 'token-form' },
    field('Name', input('name', { required: true, maxlength: 255, placeholder: 'e.g. ci-deploy' })),
    field('Role', select('role', [['read-only', 'read-only: GET only'], ['admin', 'admin: everything']], 'read-only')),
    field('Expires', h('span', { class: 'inline' }, expiry, date)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create')));
  const d = dialog('New API token', form);
  submitForm(form, async (v) => {
    const expiresAt = v.expires === 'custom'
      ? (v.expiresAt ? new Date(`${v.expiresAt}T23:59:59`).toISOString() : '')
      : new Date(Date.now() + Number(v.expires) * DAY).toISOString();
    const t = (await api.post('/api-tokens', { name: v.name.trim(), role: v.role, expiresAt })).data;
    d.close();
    reload();
    const secret = h('input', { type: 'text', readonly: true, value: t.token, class: 'secret', id: 'new-token' });
    dialog('Copy the token now', [
      h('p', {}, `This is the only time the token ${t.name} is shown. Store it where your automation reads secrets.`),
      h('div', { class: 'inline' }, secret, copyButton(t.token)),
      h('p', { class: 'muted' }, `Use: curl -H "Authorization: Bearer …" ${location.origin}${api.BASE}/identities`),
    ]);
    secret.select();
  });
}
