// Edge routers: the mesh as a picture (routers, links and their latency),
// the list, enrolling a new router and one router's page.

import * as api from '../api.js';
import { h, replace, tags, timeCell, fmtTime, fmtMs, busy, confirmAction, notify, yesNo, badge, showError } from '../dom.js';
import { listView, detailTable, field, input, checkbox, parseList, submitForm, tabs, idLink } from '../widgets.js';
import { enrollmentPanel } from '../enrollment.js';
import { optional } from './dashboard.js';
import { terminatorColumns } from './services.js';

// latencyOf is a link's last measured round trip in milliseconds; null
// before the first.
const latencyOf = (l) => (l.latency === undefined || l.latency === null ? null : Number(l.latency));

const linkEnds = (l) => [(l.sourceRouter || {}).id, (l.destRouter || {}).id];

// meshPicture draws routers on a circle and the links between them, each
// labelled with its latency; offline routers and failed links stand out.
export function meshPicture(routers, links) {
  const W = 720;
  const H = 360;
  const n = routers.length;
  const r = n <= 1 ? 0 : Math.min(W, H) / 2 - 50;
  const pos = new Map(routers.map((rt, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, n);
    return [rt.id, { x: W / 2 + r * Math.cos(a), y: H / 2 + r * Math.sin(a) }];
  }));
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'mesh', role: 'img', 'aria-label': 'router mesh' });
  for (const l of links || []) {
    const [a, b] = linkEnds(l).map((id) => pos.get(id));
    if (!a || !b) continue;
    const ok = l.state === 'connected';
    svg.append(h('svg:line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: ['link', ok ? 'up' : 'down'], data: { id: l.id || '' } },
      h('svg:title', {}, `${(l.sourceRouter || {}).name} → ${(l.destRouter || {}).name}: ${l.state}${latencyOf(l) !== null ? `, ${fmtMs(latencyOf(l))}` : ''}${l.cost !== undefined ? `, cost ${l.cost}` : ''}`)));
    const lat = latencyOf(l);
    const label = ok ? (lat !== null ? fmtMs(lat) : '') : l.state;
    if (label) svg.append(h('svg:text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, class: ['link-label', ok ? '' : 'down'], 'text-anchor': 'middle' }, label));
  }
  for (const rt of routers) {
    const p = pos.get(rt.id);
    const g = h('svg:a', { href: `#/routers/${rt.id}`, class: ['router-node', rt.isOnline ? 'online' : 'offline'] },
      h('svg:circle', { cx: p.x, cy: p.y, r: 16 }),
      h('svg:text', { x: p.x, y: p.y + 34, 'text-anchor': 'middle' }, rt.name),
      h('svg:title', {}, `${rt.name}: ${rt.isOnline ? 'online' : 'offline'}`));
    svg.append(g);
  }
  if (n === 0) svg.append(h('svg:text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted' }, 'No routers yet.'));
  return svg;
}

export async function listPage(ctx) {
  const picture = h('div', { class: 'mesh-wrap', id: 'mesh' });
  const linkNote = h('p', { class: 'muted' });
  const draw = async () => {
    const [routers, links] = await Promise.all([api.all('/edge-routers', { max: 500 }), optional(() => api.all('/links', { max: 5000 }))]);
    replace(picture, meshPicture(routers, links));
    linkNote.textContent = links === null ? 'This controller does not report router links.'
      : `${routers.filter((r) => r.isOnline).length} of ${routers.length} routers online; ${links.filter((l) => l.state === 'connected').length} of ${links.length} links connected.`;
  };
  await draw().catch(showError);
  const timer = setInterval(() => { if (!document.hidden) draw().catch(showError); }, 5000);
  ctx.onLeave(() => clearInterval(timer));
  const lv = listView({
    path: '/edge-routers', sort: 'name asc', ctx,
    toolbar: h('a', { class: 'button primary write', href: '#/routers/new' }, 'New router'),
    columns: [
      { title: 'Name', sort: 'name', render: (r) => idLink('routers', r) },
      { title: 'Status', render: (r) => [yesNo(r.isOnline, 'online', 'offline'), ' ', r.isVerified ? null : badge('not enrolled', 'warn'), r.disabled ? badge('disabled', 'bad') : null] },
      { title: 'Roles', render: (r) => tags(r.roleAttributes) },
      { title: 'Addresses', render: (r) => Object.values(r.supportedProtocols || {}).join(' ') },
      { title: 'Version', render: (r) => (r.versionInfo && r.versionInfo.version) || '' },
      { title: 'Cost', sort: 'cost', render: (r) => r.cost },
      { title: 'Created', sort: 'createdAt', render: (r) => timeCell(r.createdAt) },
    ],
  });
  return h('div', {}, h('h1', {}, 'Routers'),
    h('section', { class: 'panel' }, h('h2', {}, 'Mesh'), picture, linkNote),
    linksPanel(ctx, null),
    lv.el);
}

// linksPanel lists links (of one router when routerId is set).
function linksPanel(ctx, routerId) {
  const body = h('tbody');
  const panel = h('section', { class: 'panel', id: 'links' }, h('h2', {}, 'Links'),
    h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['From', 'To', 'State', 'Latency', 'Cost'].map((t) => h('th', {}, t)))), body));
  const load = async () => {
    let links = await optional(() => api.all('/links', { max: 5000 }));
    if (links === null) { panel.hidden = true; return; }
    if (routerId) links = links.filter((l) => linkEnds(l).includes(routerId));
    replace(body, links.length === 0 ? h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No links.'))
      : links.map((l) => h('tr', {},
        h('td', {}, idLink('routers', l.sourceRouter)), h('td', {}, idLink('routers', l.destRouter)),
        h('td', {}, badge(l.state, l.state === 'connected' ? 'ok' : 'bad')), h('td', {}, fmtMs(latencyOf(l))), h('td', {}, l.cost ?? ''))));
  };
  load().catch(showError);
  const timer = setInterval(() => { if (!document.hidden) load().catch(showError); }, 5000);
  ctx.onLeave(() => clearInterval(timer));
  return panel;
}

export function createPage(ctx) {
  const form = h('form', { class: 'stack narrow', id: 'router-form' },
    field('Name', input('name', { required: true, maxlength: 255, autofocus: true })),
    field('Role attributes', input('roleAttributes', { placeholder: 'e.g. eu, public' })),
    field('Cost', input('cost', { type: 'number', min: 0, max: 65535, value: '0' }), 'Lower is preferred when routes are chosen.'),
    checkbox('isTunnelerEnabled', false, 'Also runs a tunneler'),
    checkbox('noTraversal', false, 'Only the first or last hop of a circuit'),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '#/routers' }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Create')));
  submitForm(form, async (v) => {
    const env = await api.post('/edge-routers', { name: v.name.trim(), roleAttributes: parseList(v.roleAttributes), cost: Number(v.cost) || 0,
      isTunnelerEnabled: v.isTunnelerEnabled, noTraversal: v.noTraversal });
    notify('Router created: enroll it with its JWT.', 'ok');
    ctx.navigate(`routers/${env.data.id}`);
  });
  return h('div', {}, h('h1', {}, 'New router'), form);
}

export async function detailPage(ctx, { id }) {
  const r = (await api.get(`/edge-routers/${encodeURIComponent(id)}`)).data;
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const reenroll = h('button', {}, 'Re-enroll');
  reenroll.addEventListener('click', busy(reenroll, async () => {
    if (!(await confirmAction(`Re-enroll ${r.name}? Its certificate stops working now and it needs the new JWT.`, 'Re-enroll'))) return;
    await api.post(`/edge-routers/${r.id}/re-enroll`);
    reload();
  }));
  const del = h('button', { class: 'danger' }, 'Delete');
  del.addEventListener('click', busy(del, async () => {
    if (!(await confirmAction(`Delete router ${r.name}?`))) return;
    await api.del(`/edge-routers/${r.id}`);
    notify('Router deleted.', 'ok');
    ctx.navigate('routers');
  }));
  return h('div', {},
    h('h1', {}, r.name, ' ', yesNo(r.isOnline, 'online', 'offline')),
    h('div', { class: 'actions write' }, reenroll, del),
    r.enrollmentJwt ? enrollmentPanel({ method: 'router', jwt: r.enrollmentJwt, expiresAt: r.enrollmentExpiresAt }, `${r.name}.jwt`) : null,
    h('section', { class: 'panel' }, detailTable([
      ['ID', h('code', {}, r.id)],
      ['Enrolled', yesNo(r.isVerified)],
      ['Role attributes', tags(r.roleAttributes)],
      ['Addresses', Object.entries(r.supportedProtocols || {}).map(([k, v]) => h('div', {}, `${k}: ${v}`))],
      ['Host name', r.hostname || ''],
      ['Cost', r.cost], ['No traversal', yesNo(r.noTraversal)], ['Tunneler', yesNo(r.isTunnelerEnabled)],
      ['Version', r.versionInfo ? [r.versionInfo.version, r.versionInfo.os, r.versionInfo.arch].filter(Boolean).join(' ') : ''],
      ['Certificate', r.fingerprint ? h('code', {}, r.fingerprint) : '—'],
      ['Created', fmtTime(r.createdAt)],
    ])),
    linksPanel(ctx, r.id),
    tabs([
      { key: 'terminators', title: 'Terminators', render: () => listView({ path: '/terminators', filter: `routerId = ${api.quote(r.id)}`, search: '', ctx, columns: [
        { title: 'Service', render: (t) => idLink('services', t.service) }, ...terminatorColumns().slice(1)] }).el },
      { key: 'identities', title: 'Identities it serves', render: () => listView({ path: `/edge-routers/${r.id}/identities`, ctx, columns: [
        { title: 'Name', sort: 'name', render: (i) => idLink('identities', i) }, { title: 'Type', render: (i) => i.typeId }] }).el },
      { key: 'services', title: 'Services it carries', render: () => listView({ path: `/edge-routers/${r.id}/services`, ctx, columns: [
        { title: 'Name', sort: 'name', render: (s) => idLink('services', s) }] }).el },
    ]));
}
