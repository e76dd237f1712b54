// Policies (service, edge router, service edge router) with a live preview
// of what their role lists select while they are edited, and the "who can
// reach what" page: an identity's services, a service's identities.

import * as api from '../api.js';
import { h, replace, tags, timeCell, fmtTime, busy, confirmAction, notify, badge, showError } from '../dom.js';
import { listView, detailTable, field, input, select, parseList, submitForm, tabs } from '../widgets.js';
import { identityReach, serviceReach, reachPanel } from '../reach.js';

const SIDES = {
  identityRoles: { title: 'Identities', path: '/identities', route: 'identities' },
  serviceRoles: { title: 'Services', path: '/services', route: 'services' },
  edgeRouterRoles: { title: 'Edge routers', path: '/edge-routers', route: 'routers' },
  postureCheckRoles: { title: 'Posture checks', path: '/posture-checks', route: null },
};

export const KINDS = {
  service: { title: 'Service policies', path: '/service-policies', sides: ['identityRoles', 'serviceRoles', 'postureCheckRoles'], typed: true },
  'edge-router': { title: 'Edge router policies', path: '/edge-router-policies', sides: ['identityRoles', 'edgeRouterRoles'] },
  'service-edge-router': { title: 'Service edge router policies', path: '/service-edge-router-policies', sides: ['serviceRoles', 'edgeRouterRoles'] },
};

const shown = (p, side) => (p[`${side}Display`] || (p[side] || []).map((r) => ({ name: r }))).map((r) => r.name);

export function listPage(ctx) {
  return h('div', {}, h('h1', {}, 'Policies'), tabs(Object.entries(KINDS).map(([key, k]) => ({
    key, title: k.title,
    render: () => listView({
      path: k.path, sort: 'name asc', ctx,
      toolbar: h('a', { class: 'button primary write', href: `#/policies/${key}/new` }, `New ${k.title.replace(/ies$/, 'y').toLowerCase()}`),
      columns: [
        { title: 'Name', sort: 'name', render: (p) => h('a', { href: `#/policies/${key}/${p.id}` }, p.name) },
        k.typed ? { title: 'Type', sort: 'type', render: (p) => badge(p.type, 'tag') } : null,
        { title: 'Semantic', render: (p) => p.semantic },
        ...k.sides.map((s) => ({ title: SIDES[s].title, render: (p) => tags(shown(p, s)) })),
        { title: 'Created', sort: 'createdAt', render: (p) => timeCell(p.createdAt) },
      ].filter(Boolean),
    }).el,
  })), ctx.query.get('kind') || 'service'));
}

// rolesFilter turns a role list into a filter selecting what it selects;
// null when it selects nothing. "@x" names an entity by id or by name.
export function rolesFilter(roles, semantic) {
  if (roles.includes('#all')) return 'true';
  const refs = roles.filter((r) => r.startsWith('@') && r.length > 1).map((r) => r.slice(1));
  const attrs = roles.filter((r) => r.startsWith('#') && r.length > 1).map((r) => r.slice(1));
  const parts = [];
  if (refs.length) {
    const list = `[${refs.map(api.quote).join(', ')}]`;
    parts.push(`id in ${list} or name in ${list}`);
  }
  if (attrs.length) {
    parts.push(semantic === 'AnyOf'
      ? `anyOf(roleAttributes) in [${attrs.map(api.quote).join(', ')}]`
      : attrs.map((a) => `anyOf(roleAttributes) = ${api.quote(a)}`).join(' and '));
  }
  return parts.length ? parts.map((p) => `(${p})`).join(' or ') : null;
}

// resolveRoles turns "@name" into "@id", as the API stores ids.
async function resolveRoles(roles, path) {
  return Promise.all(roles.map(async (r) => {
    if (!r.startsWith('@')) return r;
    const ref = r.slice(1);
    const found = await api.page(path, { limit: 2, filter: `id = ${api.quote(ref)} or name = ${api.quote(ref)}` });
    if (found.items.length === 0) throw new api.ApiError(400, { error: { code: 'COULD_NOT_VALIDATE', message: `nothing is named or has the id ${ref}`, cause: { field: path.slice(1), reason: 'unknown @ reference', value: r } } });
    return `@${found.items[0].id}`;
  }));
}

function normaliseRole(r) {
  if (r.startsWith('#') || r.startsWith('@')) return r;
  return `#${r}`;
}

// preview shows, under a role input, what the roles select right now.
function preview(side, rolesInput, semanticSelect) {
  const out = h('div', { class: 'preview', data: { side } }, h('span', { class: 'muted' }, 'Selects nothing yet.'));
  const s = SIDES[side];
  let seq = 0;
  const update = async () => {
    const mine = ++seq;
    const roles = parseList(rolesInput.value).map(normaliseRole);
    const filter = rolesFilter(roles, semanticSelect.value);
    if (filter === null) { replace(out, h('span', { class: 'muted' }, 'Selects nothing yet.')); return; }
    try {
      const p = await api.page(s.path, { limit: 12, filter, sort: 'name asc' });
      if (mine !== seq) return;
      replace(out, h('span', { class: 'preview-count' }, `${p.total} ${s.title.toLowerCase()}`),
        p.items.length ? ': ' : '', p.items.map((e, i) => [i ? ', ' : '', s.route ? h('a', { href: `#/${s.route}/${e.id}`, class: 'preview-item' }, e.name) : h('span', { class: 'preview-item' }, e.name)]),
        p.total > p.items.length ? ` and ${p.total - p.items.length} more` : '');
    } catch (err) {
      if (mine === seq) replace(out, h('span', { class: 'error' }, typeof err.describe === 'function' ? err.describe() : String(err)));
    }
  };
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(update, 250); };
  rolesInput.addEventListener('input', soon);
  semanticSelect.addEventListener('change', soon);
  update();
  return out;
}

async function suggestions(side) {
  const s = SIDES[side];
  const items = await api.page(s.path, { limit: 500, sort: 'name asc' }).then((p) => p.items).catch((err) => { showError(err); return []; });
  const attrs = new Set();
  for (const e of items) for (const a of e.roleAttributes || []) attrs.add(a);
  return h('datalist', { id: `roles-${side}` }, h('option', { value: '#all' }),
    [...attrs].sort().map((a) => h('option', { value: `#${a}` })), items.map((e) => h('option', { value: `@${e.name}` })));
}

function policyForm(kindKey, p, ctx) {
  const k = KINDS[kindKey];
  const semantic = select('semantic', [['AnyOf', 'Any of the roles (AnyOf)'], ['AllOf', 'All of the roles (AllOf)']], p ? p.semantic : 'AnyOf');
  const rows = k.sides.map((side) => {
    const rolesIn = input(side, { value: p ? shown(p, side).join(', ') : '', list: `roles-${side}`, placeholder: '#attribute, @name or #all', autocomplete: 'off' });
    return h('div', { class: 'role-side' }, field(SIDES[side].title, rolesIn, side === 'postureCheckRoles' ? 'Optional.' : 'Separate roles with commas; a bare word means #word.'), preview(side, rolesIn, semantic));
  });
  const form = h('form', { class: 'stack', id: 'policy-form' },
    h('div', { class: 'grid2' }, field('Name', input('name', { value: p ? p.name : '', required: true, maxlength: 255 })),
      k.typed ? field('Type', select('type', [['Dial', 'Dial (use the service)'], ['Bind', 'Bind (host the service)']], p ? p.type : 'Dial')) : h('span')),
    field('Semantic', semantic), rows,
    h('div', { class: 'actions write' }, h('a', { class: 'button', href: `#/policies?kind=${kindKey}` }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, p ? 'Save' : 'Create')));
  Promise.all(k.sides.map(suggestions)).then((lists) => form.append(...lists));
  return submitForm(form, async (v) => {
    const body = { name: v.name.trim(), semantic: v.semantic };
    if (k.typed) body.type = v.type;
    for (const side of k.sides) body[side] = await resolveRoles(parseList(v[side]).map(normaliseRole), SIDES[side].path);
    if (p) {
      await api.put(`${k.path}/${p.id}`, body);
      notify('Policy saved.', 'ok');
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } else {
      const env = await api.post(k.path, body);
      notify(`Policy ${body.name} created.`, 'ok');
      ctx.navigate(`policies/${kindKey}/${env.data.id}`);
    }
  });
}

export function createPage(ctx, { kind }) {
  const k = KINDS[kind];
  if (!k) throw new Error(`no such policy kind: ${kind}`);
  return h('div', {}, h('h1', {}, `New ${k.title.replace(/ies$/, 'y').toLowerCase()}`), policyForm(kind, null, ctx));
}

export async function detailPage(ctx, { kind, id }) {
  const k = KINDS[kind];
  if (!k) throw new Error(`no such policy kind: ${kind}`);
  const p = (await api.get(`${k.path}/${encodeURIComponent(id)}`)).data;
  const del = h('button', { class: 'danger write' }, 'Delete');
  del.addEventListener('click', busy(del, async () => {
    if (!(await confirmAction(`Delete policy ${p.name}?`))) return;
    await api.del(`${k.path}/${p.id}`);
    notify('Policy deleted.', 'ok');
    ctx.navigate(`policies?kind=${kind}`);
  }));
  return h('div', {},
    h('h1', {}, p.name, ' ', k.typed ? badge(p.type, 'tag') : null),
    h('div', { class: 'actions' }, del),
    h('section', { class: 'panel' }, detailTable([['ID', h('code', {}, p.id)], ['Kind', k.title], ['Created', fmtTime(p.createdAt)], ['Updated', fmtTime(p.updatedAt)]])),
    h('section', { class: 'panel' }, h('h2', {}, 'Roles and what they select'), policyForm(kind, p, ctx)));
}

// ---------------------------------------------------------------------------
// Who can reach what

function picker(label, path, onPick) {
  const list = h('datalist', { id: `pick-${path.slice(1)}` });
  const box = h('input', { type: 'search', list: list.id, placeholder: `Name of ${label.toLowerCase()}`, name: `pick-${path.slice(1)}`, autocomplete: 'off' });
  let timer = null;
  let seq = 0;
  box.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++seq;
      const p = await api.page(path, { limit: 20, filter: box.value ? `name icontains ${api.quote(box.value)}` : '', sort: 'name asc' }).catch((err) => { showError(err); return { items: [] }; });
      if (mine === seq) replace(list, p.items.map((e) => h('option', { value: e.name })));
    }, 200);
  });
  const form = h('form', { class: 'inline-form' }, box, list, h('button', { type: 'submit', class: 'small' }, 'Show'));
  submitForm(form, async () => {
    const name = box.value.trim();
    const p = await api.page(path, { limit: 1, filter: `name = ${api.quote(name)} or id = ${api.quote(name)}` });
    if (!p.items.length) throw new api.ApiError(404, { error: { code: 'NOT_FOUND', message: `no ${label.toLowerCase()} is named ${name}` } });
    onPick(p.items[0]);
  });
  return form;
}

export function reachPage(ctx) {
  const idOut = h('div', { id: 'reach-identity' }, h('p', { class: 'muted' }, 'Pick an identity to see the services it may dial or bind.'));
  const svcOut = h('div', { id: 'reach-service' }, h('p', { class: 'muted' }, 'Pick a service to see the identities that may dial or bind it.'));
  const showIdentity = (i) => replace(idOut, h('h3', {}, h('a', { href: `#/identities/${i.id}` }, i.name), ' can reach'), reachPanel(() => identityReach(i.id), 'services'));
  const showService = (s) => replace(svcOut, h('h3', {}, h('a', { href: `#/services/${s.id}` }, s.name), ' is reachable by'), reachPanel(() => serviceReach(s.id), 'identities'));
  const pre = ctx.query.get('identity');
  if (pre) api.data(`/identities/${encodeURIComponent(pre)}`).then(showIdentity).catch(showError);
  return h('div', {},
    h('h1', {}, 'Who can reach what'),
    h('p', { class: 'muted' }, 'Follows the service policies and both sides\' edge router policies, as the controller does when a client asks for a session.'),
    h('div', { class: 'columns' },
      h('section', { class: 'panel' }, h('h2', {}, 'Identity → services'), picker('Identity', '/identities', showIdentity), idOut),
      h('section', { class: 'panel' }, h('h2', {}, 'Service → identities'), picker('Service', '/services', showService), svcOut)));
}
