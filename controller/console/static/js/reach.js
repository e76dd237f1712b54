// Who can reach what, from the policy lists of the management API: which
// services an identity may dial or bind and through which policies, which
// identities may use a service, and over which edge routers (those both
// sides' edge router policies allow).

import * as api from './api.js';
import { h, badge, replace, showError } from './dom.js';
import { idLink } from './widgets.js';

const ROUTER_LOOKUPS = 100; // beyond this many rows, routers are not looked up

// grants follows policies to the entities they select on the other side:
// a Map from entity id to {entity, Dial: [policies], Bind: [policies]}.
async function grants(policies, otherSide) {
  const out = new Map();
  const lists = await Promise.all(policies.map((p) => api.all(`/service-policies/${p.id}/${otherSide}`)));
  policies.forEach((p, i) => {
    for (const e of lists[i]) {
      if (!out.has(e.id)) out.set(e.id, { entity: e, Dial: [], Bind: [] });
      out.get(e.id)[p.type === 'Bind' ? 'Bind' : 'Dial'].push(p);
    }
  });
  return out;
}

async function commonRouters(rows, ownRouters, routersOf) {
  const own = new Map(ownRouters.map((r) => [r.id, r]));
  await Promise.all(rows.slice(0, ROUTER_LOOKUPS).map(async (row) => {
    const theirs = await api.all(routersOf(row.entity.id));
    row.routers = theirs.filter((r) => own.has(r.id)).map((r) => own.get(r.id));
  }));
}

// identityReach lists what an identity may use.
export async function identityReach(identityId) {
  const [policies, routers] = await Promise.all([
    api.all(`/identities/${identityId}/service-policies`), api.all(`/identities/${identityId}/edge-routers`)]);
  const rows = [...(await grants(policies, 'services')).values()].sort((a, b) => a.entity.name.localeCompare(b.entity.name));
  await commonRouters(rows, routers, (sid) => `/services/${sid}/edge-routers`);
  return rows;
}

// serviceReach lists who may use a service.
export async function serviceReach(serviceId) {
  const [policies, routers] = await Promise.all([
    api.all(`/services/${serviceId}/service-policies`), api.all(`/services/${serviceId}/edge-routers`)]);
  const rows = [...(await grants(policies, 'identities')).values()].sort((a, b) => a.entity.name.localeCompare(b.entity.name));
  await commonRouters(rows, routers, (iid) => `/identities/${iid}/edge-routers`);
  return rows;
}

function policyLinks(list) {
  return list.map((p, i) => [i ? ', ' : '', h('a', { href: `#/policies/service/${p.id}` }, p.name)]);
}

function routerCell(row) {
  if (!row.routers) return h('span', { class: 'muted' }, 'not looked up');
  const online = row.routers.filter((r) => r.isOnline);
  if (row.routers.length === 0) return badge('no common edge router', 'bad');
  return h('span', {}, online.length ? badge(`${online.length} online`, 'ok') : badge('none online', 'warn'), ' ',
    row.routers.map((r, i) => [i ? ', ' : '', idLink('routers', r)]));
}

// reachTable renders rows of identityReach (route "services") or
// serviceReach (route "identities").
export function reachTable(rows, route) {
  if (rows.length === 0) {
    return h('p', { class: 'muted empty reach-empty' }, route === 'services' ? 'No service policy gives this identity any service.' : 'No service policy gives any identity this service.');
  }
  return h('table', { class: 'list reach' },
    h('thead', {}, h('tr', {}, [route === 'services' ? 'Service' : 'Identity', 'Dial', 'Bind', 'Edge routers'].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows.map((r) => h('tr', { data: { id: r.entity.id, name: r.entity.name } },
      h('td', {}, idLink(route, r.entity)),
      h('td', {}, r.Dial.length ? [badge('dial', 'ok'), ' via ', policyLinks(r.Dial)] : h('span', { class: 'muted' }, '—')),
      h('td', {}, r.Bind.length ? [badge('bind', 'ok'), ' via ', policyLinks(r.Bind)] : h('span', { class: 'muted' }, '—')),
      h('td', {}, routerCell(r))))));
}

// reachPanel loads and shows a reach table, with a reload button.
export function reachPanel(load, route) {
  const body = h('div', { class: 'reach-body' }, h('p', { class: 'muted' }, 'Working out who can reach what…'));
  const reload = async () => {
    try {
      replace(body, reachTable(await load(), route));
    } catch (err) {
      showError(err);
      replace(body, h('p', { class: 'error' }, typeof err.describe === 'function' ? err.describe() : String(err)));
    }
  };
  reload();
  return h('div', { class: 'reach-panel' }, h('div', { class: 'toolbar' }, h('button', { class: 'small', onclick: reload }, 'Reload')), body);
}
