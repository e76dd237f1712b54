// Services and their configs: a service form that can create its
// intercept.v1 and host.v1 configs in the same step, a service's page with
// who can reach it, and the configs list with a form per built-in type.

import * as api from '../api.js';
import { h, tags, timeCell, fmtTime, busy, confirmAction, dialog, notify, yesNo, badge, showError } from '../dom.js';
import { listView, detailTable, field, input, select, checkbox, parseList, submitForm, tabs, idLink, jsonBlock } from '../widgets.js';
import { configEditor, hasForm, formatPortRanges } from '../configforms.js';
import { serviceReach, reachPanel } from '../reach.js';

const STRATEGIES = ['smartrouting', 'weighted', 'random'];

// configSummary says in a few words what a config does.
export function configSummary(c) {
  const d = c.data || {};
  if (c.configTypeId === 'intercept.v1') return `${(d.protocols || []).join('/')} ${(d.addresses || []).join(', ')} : ${formatPortRanges(d.portRanges)}`;
  if (c.configTypeId === 'host.v1') {
    return `${d.forwardProtocol ? 'forwarded' : d.protocol} → ${d.forwardAddress ? 'forwarded address' : d.address}:${d.forwardPort ? 'forwarded port' : d.port}`;
  }
  const s = JSON.stringify(d);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

export function listPage(ctx) {
  const lv = listView({
    path: '/services', sort: 'name asc', ctx, example: 'anyOf(roleAttributes) = "web"',
    toolbar: h('a', { class: 'button primary write', href: '#/services/new' }, 'New service'),
    columns: [
      { title: 'Name', sort: 'name', render: (s) => idLink('services', s) },
      { title: 'Roles', render: (s) => tags(s.roleAttributes) },
      { title: 'Configs', render: (s) => tags(Object.keys(s.config || {})) },
      { title: 'Encrypted', render: (s) => yesNo(s.encryptionRequired, 'end-to-end', 'no') },
      { title: 'Strategy', render: (s) => s.terminatorStrategy },
      { title: 'Created', sort: 'createdAt', render: (s) => timeCell(s.createdAt) },
    ],
    empty: 'No services match.',
  });
  return h('div', {}, h('h1', {}, 'Services'), lv.el);
}

async function configOptions(selected = []) {
  const configs = await api.all('/configs', { sort: 'name asc' });
  return h('select', { name: 'configs', multiple: true, size: Math.min(6, Math.max(2, configs.length)), class: 'multi' },
    configs.map((c) => h('option', { value: c.id, selected: selected.includes(c.id) }, `${c.name} (${c.configTypeId})`)));
}

const selectedValues = (sel) => [...sel.selectedOptions].map((o) => o.value);

export async function createPage(ctx) {
  const existing = await configOptions();
  const intercept = configEditor('intercept.v1');
  const host = configEditor('host.v1');
  const withIntercept = checkbox('withIntercept', false, 'Create an intercept.v1 config (what clients capture)');
  const withHost = checkbox('withHost', false, 'Create a host.v1 config (where the hosting side connects)');
  const interceptBox = h('div', { class: 'subform', hidden: true }, intercept.el);
  const hostBox = h('div', { class: 'subform', hidden: true }, host.el);
  withIntercept.querySelector('input').addEventListener('change', (ev) => { interceptBox.hidden = !ev.target.checked; });
  withHost.querySelector('input').addEventListener('change', (ev) => { hostBox.hidden = !ev.target.checked; });
  const form = h('form', { class: 'stack', id: 'service-form' },
    h('div', { class: 'grid2' },
      field('Name', input('name', { required: true, maxlength: 255, autofocus: true })),
      field('Role attributes', input('roleAttributes', { placeholder: 'e.g. web, internal' }))),
    h('div', { class: 'grid2' },
      field('Terminator strategy', select('terminatorStrategy', STRATEGIES, 'smartrouting')),
      field('Idle timeout, ms (0: none)', input('maxIdleTimeMillis', { type: 'number', min: 0, value: '0' }))),
    checkbox('encryptionRequired', true, 'Require end-to-end encryption'),
    field('Existing configs', existing, 'Ctrl-click to choose several.'),
    withIntercept, interceptBox, withHost, hostBox,
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '#/services' }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Create')));
  submitForm(form, async (v) => {
    const name = v.name.trim();
    // Read both forms before creating anything, so a mistake creates nothing.
    const newConfigs = [];
    if (v.withIntercept) newConfigs.push({ name: `${name}.intercept.v1`, configTypeId: 'intercept.v1', data: intercept.value() });
    if (v.withHost) newConfigs.push({ name: `${name}.host.v1`, configTypeId: 'host.v1', data: host.value() });
    const made = [];
    try {
      for (const c of newConfigs) made.push((await api.post('/configs', c)).data.id);
      const env = await api.post('/services', {
        name, roleAttributes: parseList(v.roleAttributes), encryptionRequired: v.encryptionRequired,
        terminatorStrategy: v.terminatorStrategy, maxIdleTimeMillis: Number(v.maxIdleTimeMillis) || 0,
        configs: [...selectedValues(existing), ...made],
      });
      notify(`Service ${name} created.`, 'ok');
      ctx.navigate(`services/${env.data.id}`);
    } catch (err) {
      // Leave nothing half-made behind.
      await Promise.all(made.map((id) => api.del(`/configs/${id}`).catch(showError)));
      throw err;
    }
  });
  return h('div', {}, h('h1', {}, 'New service'), form);
}

export async function detailPage(ctx, { id }) {
  const s = (await api.get(`/services/${encodeURIComponent(id)}`)).data;
  const configs = await Promise.all((s.configs || []).map((cid) => api.data(`/configs/${cid}`).catch((err) => ({ id: cid, name: cid, error: err }))));
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const edit = h('button', {}, 'Edit');
  edit.addEventListener('click', busy(edit, () => editDialog(s, reload)));
  const del = h('button', { class: 'danger' }, 'Delete');
  del.addEventListener('click', busy(del, async () => {
    if (!(await confirmAction(`Delete service ${s.name}? Its sessions end.`))) return;
    await api.del(`/services/${s.id}`);
    notify(`Service ${s.name} deleted.`, 'ok');
    ctx.navigate('services');
  }));
  return h('div', { class: 'service' },
    h('h1', {}, s.name),
    h('div', { class: 'actions write' }, edit, del),
    h('section', { class: 'panel' }, detailTable([
      ['ID', h('code', {}, s.id)],
      ['Role attributes', tags(s.roleAttributes)],
      ['End-to-end encryption', yesNo(s.encryptionRequired, 'required', 'not required')],
      ['Terminator strategy', s.terminatorStrategy],
      ['Idle timeout', s.maxIdleTimeMillis ? `${s.maxIdleTimeMillis} ms` : 'none'],
      ['Created', fmtTime(s.createdAt)],
      ['Updated', fmtTime(s.updatedAt)],
    ])),
    h('section', { class: 'panel' }, h('h2', {}, 'Configs'),
      configs.length === 0 ? h('p', { class: 'muted' }, 'No configs.') : h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['Name', 'Type', 'What it does', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, configs.map((c) => h('tr', {},
          h('td', {}, idLink('configs', c)), h('td', {}, c.configTypeId || ''),
          h('td', {}, c.error ? h('span', { class: 'error' }, c.error.describe()) : configSummary(c)),
          h('td', {}, c.error ? '' : h('button', { class: 'small write', onclick: () => editConfigDialog(c, reload) }, 'Edit'))))))),
    tabs([
      { key: 'reach', title: 'Who can reach it', render: () => reachPanel(() => serviceReach(s.id), 'identities') },
      { key: 'terminators', title: 'Terminators', render: () => listView({ path: `/services/${s.id}/terminators`, search: '', ctx, columns: terminatorColumns() }).el },
      { key: 'policies', title: 'Service policies', render: () => listView({ path: `/services/${s.id}/service-policies`, ctx, columns: [
        { title: 'Name', sort: 'name', render: (p) => h('a', { href: `#/policies/service/${p.id}` }, p.name) },
        { title: 'Type', render: (p) => p.type },
        { title: 'Identities', render: (p) => tags((p.identityRolesDisplay || []).map((r) => r.name)) }] }).el },
      { key: 'routers', title: 'Edge routers', render: () => listView({ path: `/services/${s.id}/edge-routers`, ctx, columns: [
        { title: 'Name', sort: 'name', render: (r) => idLink('routers', r) },
        { title: 'Online', render: (r) => yesNo(r.isOnline, 'online', 'offline') }] }).el },
      { key: 'sessions', title: 'Sessions', render: () => listView({ path: '/sessions', filter: `serviceId = ${api.quote(s.id)}`, search: '', ctx, columns: [
        { title: 'Identity', render: (x) => idLink('identities', x.identity) },
        { title: 'Type', render: (x) => x.type },
        { title: 'Created', sort: 'createdAt', render: (x) => timeCell(x.createdAt) }] }).el },
    ]));
}

export function terminatorColumns() {
  return [
    { title: 'Router', render: (t) => idLink('routers', t.router) },
    { title: 'Binding', render: (t) => t.binding },
    { title: 'Identity', render: (t) => t.identity || '' },
    { title: 'Cost', render: (t) => t.cost },
    { title: 'Precedence', render: (t) => badge(t.precedence, t.precedence === 'failed' ? 'bad' : '') },
    { title: 'Created', sort: 'createdAt', render: (t) => timeCell(t.createdAt) },
  ];
}

async function editDialog(s, reload) {
  const configs = await configOptions(s.configs || []);
  const form = h('form', { class: 'stack' },
    field('Name', input('name', { value: s.name, required: true, maxlength: 255 })),
    field('Role attributes', input('roleAttributes', { value: (s.roleAttributes || []).join(', ') })),
    field('Terminator strategy', select('terminatorStrategy', STRATEGIES, s.terminatorStrategy)),
    checkbox('encryptionRequired', s.encryptionRequired, 'Require end-to-end encryption'),
    field('Configs', configs),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save')));
  const d = dialog(`Edit ${s.name}`, form);
  submitForm(form, async (v) => {
    await api.patch(`/services/${s.id}`, { name: v.name.trim(), roleAttributes: parseList(v.roleAttributes), terminatorStrategy: v.terminatorStrategy,
      encryptionRequired: v.encryptionRequired, configs: selectedValues(configs) });
    d.close();
    notify('Saved.', 'ok');
    reload();
  });
}

function editConfigDialog(c, reload) {
  const editor = configEditor(c.configTypeId, c.data);
  const form = h('form', { class: 'stack' }, field('Name', input('cfgname', { value: c.name, required: true })), editor.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save')));
  const d = dialog(`Edit config ${c.name}`, form, { wide: true });
  submitForm(form, async (v) => {
    await api.patch(`/configs/${c.id}`, { name: v.cfgname.trim(), data: editor.value() });
    d.close();
    notify('Config saved.', 'ok');
    reload();
  });
}

// ---------------------------------------------------------------------------
// Configs

export function configsPage(ctx) {
  const lv = listView({
    path: '/configs', sort: 'name asc', ctx, example: 'configTypeId = "host.v1"',
    toolbar: h('a', { class: 'button primary write', href: '#/configs/new' }, 'New config'),
    columns: [
      { title: 'Name', sort: 'name', render: (c) => idLink('configs', c) },
      { title: 'Type', sort: 'configTypeId', render: (c) => c.configTypeId },
      { title: 'What it does', render: configSummary },
      { title: 'Updated', sort: 'updatedAt', render: (c) => timeCell(c.updatedAt) },
    ],
    empty: 'No configs match.',
  });
  return h('div', {}, h('h1', {}, 'Configs'), lv.el);
}

export async function configCreatePage(ctx) {
  const types = await api.all('/config-types', { sort: 'name asc' });
  const holder = h('div', {});
  let editor = null;
  const typeSel = select('configTypeId', types.map((t) => [t.id, t.name + (hasForm(t.id) ? '' : ' (JSON)')]), ctx.query.get('type') || 'intercept.v1', {
    onchange: () => { editor = configEditor(typeSel.value); holder.replaceChildren(editor.el); },
  });
  editor = configEditor(typeSel.value);
  holder.append(editor.el);
  const form = h('form', { class: 'stack', id: 'config-form' },
    h('div', { class: 'grid2' }, field('Name', input('cfgname', { required: true, maxlength: 255 })), field('Type', typeSel)),
    holder,
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '#/configs' }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Create')));
  submitForm(form, async (v) => {
    const env = await api.post('/configs', { name: v.cfgname.trim(), configTypeId: typeSel.value, data: editor.value() });
    notify('Config created.', 'ok');
    ctx.navigate(`configs/${env.data.id}`);
  });
  return h('div', {}, h('h1', {}, 'New config'), form);
}

export async function configDetailPage(ctx, { id }) {
  const c = (await api.get(`/configs/${encodeURIComponent(id)}`)).data;
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const del = h('button', { class: 'danger' }, 'Delete');
  del.addEventListener('click', busy(del, async () => {
    if (!(await confirmAction(`Delete config ${c.name}?`))) return;
    await api.del(`/configs/${c.id}`);
    notify('Config deleted.', 'ok');
    ctx.navigate('configs');
  }));
  return h('div', {},
    h('h1', {}, c.name),
    h('div', { class: 'actions write' }, h('button', { onclick: () => editConfigDialog(c, reload) }, 'Edit'), del),
    h('section', { class: 'panel' }, detailTable([
      ['ID', h('code', {}, c.id)], ['Type', c.configTypeId], ['What it does', configSummary(c)],
      ['Created', fmtTime(c.createdAt)], ['Updated', fmtTime(c.updatedAt)]])),
    h('section', { class: 'panel' }, h('h2', {}, 'Data'), jsonBlock(c.data)),
    h('section', { class: 'panel' }, h('h2', {}, 'Services using it'),
      listView({ path: '/services', filter: `anyOf(configs) = ${api.quote(c.id)}`, ctx, columns: [
        { title: 'Name', sort: 'name', render: (s) => idLink('services', s) }] }).el));
}
