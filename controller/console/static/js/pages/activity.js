// What is happening now: API sessions, dial and bind sessions, and the
// circuits carrying traffic, with their bytes.

import * as api from '../api.js';
import { h, timeCell, fmtBytes, busy, confirmAction, notify, badge } from '../dom.js';
import { listView, tabs, idLink } from '../widgets.js';
import { apiSessionColumns } from './identities.js';

function endButton(path, what, reload) {
  const b = h('button', { class: 'small danger write' }, 'End');
  b.addEventListener('click', busy(b, async () => {
    if (!(await confirmAction(`End this ${what}?`, 'End'))) return;
    await api.del(path);
    notify(`The ${what} ended.`, 'ok');
    reload();
  }));
  return b;
}

export function sessionsPage(ctx) {
  return h('div', {}, h('h1', {}, 'Sessions'), tabs([
    {
      key: 'api', title: 'API sessions',
      render: () => {
        let lv = null;
        lv = listView({
          path: '/api-sessions', sort: 'createdAt desc', search: '', ctx, refresh: 10000, example: 'ipAddress = "10.0.0.7"',
          columns: [...apiSessionColumns(), { title: '', render: (s) => endButton(`/api-sessions/${s.id}`, 'API session', () => lv.reload()) }],
        });
        return lv.el;
      },
    },
    {
      key: 'sessions', title: 'Dial and bind sessions',
      render: () => {
        let lv = null;
        lv = listView({
          path: '/sessions', sort: 'createdAt desc', search: '', ctx, refresh: 10000, example: 'type = "Bind"',
          columns: [
            { title: 'Identity', render: (s) => idLink('identities', s.identity) },
            { title: 'Service', render: (s) => idLink('services', s.service) },
            { title: 'Type', sort: 'type', render: (s) => badge(s.type, 'tag') },
            { title: 'Created', sort: 'createdAt', render: (s) => timeCell(s.createdAt) },
            { title: '', render: (s) => endButton(`/sessions/${s.id}`, 'session', () => lv.reload()) },
          ],
        });
        return lv.el;
      },
    },
  ], ctx.query.get('tab') || 'api'));
}

export async function circuitsPage(ctx) {
  const routers = new Map((await api.all('/edge-routers', { max: 2000 })).map((r) => [r.id, r]));
  let lv = null;
  lv = listView({
    path: '/circuits', filterable: false, ctx, refresh: 2000,
    columns: [
      { title: 'Service', render: (c) => idLink('services', c.service) },
      { title: 'Dialer', render: (c) => idLink('identities', c.identity) },
      { title: 'Path', render: (c) => h('span', { class: 'path' }, (c.path || []).map((id, i) => [i ? ' → ' : '', idLink('routers', routers.get(id) || id)])) },
      { title: 'Bytes up', class: 'num', render: (c) => h('span', { title: 'from the dialer towards the host' }, fmtBytes(c.bytesUp)) },
      { title: 'Bytes down', class: 'num', render: (c) => h('span', { title: 'from the host towards the dialer' }, fmtBytes(c.bytesDown)) },
      { title: 'Opened', render: (c) => timeCell(c.createdAt) },
      { title: '', render: (c) => endButton(`/circuits/${c.id}`, 'circuit', () => lv.reload()) },
    ],
    empty: 'No circuits are open.',
  });
  return h('div', {}, h('h1', {}, 'Circuits'), h('p', { class: 'muted' }, 'Open now, oldest first; refreshed every two seconds.'), lv.el);
}
