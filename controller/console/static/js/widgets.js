// Lists, forms and detail panels shared by the pages. Lists page, sort and
// filter on the server with the API's limit, offset, sort and filter.

import * as api from './api.js';
import { h, replace, run, showError, busy } from './dom.js';

const FILTER_SYNTAX = /[=<>!]|\b(contains|icontains|startsWith|endsWith|in|between|anyOf|allOf|isEmpty|count|sort by|limit|skip|and|or|not|true|false|null)\b/i;

// listView is a server-paged table.
//   path      the list's API path (string or function returning one)
//   columns   [{title, sort?: field, render: item => node|string, class?}]
//   search    field searched by plain text (default "name"); text that looks
//             like a filter expression is sent as it is
//   filter    a fixed filter ANDed with the user's (or a function giving one)
//   sort      initial sort, e.g. "createdAt desc"
//   toolbar   extra controls next to the search box
//   refresh   milliseconds between automatic reloads (0: none)
//   ctx       the page context; auto-refresh stops when the page is left
//   filterable false for lists the API pages but does not filter or sort
//   empty     text when nothing matches
export function listView(o) {
  const filterable = o.filterable !== false;
  const state = { limit: o.limit || 25, offset: 0, text: '', sort: o.sort || '' };
  const body = h('tbody');
  const info = h('span', { class: 'page-info' });
  const prev = h('button', { class: 'small', onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, '‹ Prev');
  const next = h('button', { class: 'small', onclick: () => { state.offset += state.limit; load(); } }, 'Next ›');
  const size = h('select', { class: 'small', title: 'Rows per page', onchange: () => { state.limit = Number(size.value); state.offset = 0; load(); } },
    [10, 25, 100, 500].map((n) => h('option', { value: n, selected: n === state.limit }, `${n} / page`)));
  const searchField = o.search === undefined ? 'name' : o.search;
  const searchBox = h('input', {
    type: 'search', class: 'search', name: 'filter',
    placeholder: searchField ? `Search ${searchField}, or a filter such as ${o.example || 'name contains "web"'}` : `Filter, e.g. ${o.example || 'createdAt > datetime(2026-01-01T00:00:00Z)'}`,
  });
  const form = h('form', { class: 'list-search', onsubmit: (ev) => { ev.preventDefault(); state.text = searchBox.value.trim(); state.offset = 0; load(); } },
    searchBox, h('button', { type: 'submit', class: 'small' }, 'Filter'));
  const heads = o.columns.map((c) => {
    const th = h('th', { class: c.class }, c.title);
    if (c.sort && filterable) {
      th.classList.add('sortable');
      th.addEventListener('click', () => {
        const [f, dir] = state.sort.split(/\s+/);
        state.sort = f === c.sort && dir !== 'desc' ? `${c.sort} desc` : `${c.sort} asc`;
        state.offset = 0;
        load();
      });
    }
    return th;
  });
  const table = h('table', { class: 'list' }, h('thead', {}, h('tr', {}, heads)), body);
  const el = h('section', { class: 'list-view' },
    h('div', { class: 'toolbar' }, filterable ? form : null, o.toolbar || null),
    h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'pager' }, info, prev, next, size));
  let loading = false;
  let again = false; // asked for while a load ran: load once more after it

  function filterText() {
    let user = state.text;
    if (user && searchField && !FILTER_SYNTAX.test(user)) user = `${searchField} icontains ${api.quote(user)}`;
    const fixed = typeof o.filter === 'function' ? o.filter() : o.filter;
    const parts = [fixed, user].filter(Boolean).map((p) => `(${p})`);
    return parts.join(' and ');
  }

  async function load() {
    if (loading) { again = true; return; }
    loading = true;
    heads.forEach((th, i) => {
      const c = o.columns[i];
      th.classList.toggle('asc', !!c.sort && state.sort === `${c.sort} asc`);
      th.classList.toggle('desc', !!c.sort && state.sort === `${c.sort} desc`);
    });
    try {
      const path = typeof o.path === 'function' ? o.path() : o.path;
      const p = await api.page(path, filterable
        ? { limit: state.limit, offset: state.offset, filter: filterText(), sort: state.sort }
        : { limit: state.limit, offset: state.offset });
      if (p.items.length === 0 && state.offset > 0 && p.total > 0) {
        state.offset = Math.max(0, Math.floor((p.total - 1) / state.limit) * state.limit);
        again = true;
        return;
      }
      replace(body, p.items.length === 0
        ? h('tr', {}, h('td', { colspan: o.columns.length, class: 'empty' }, o.empty || 'Nothing matches.'))
        : p.items.map((it) => h('tr', { data: { id: it.id || '' } }, o.columns.map((c) => h('td', { class: c.class }, c.render(it))))));
      info.textContent = p.total === 0 ? '0 items' : `${p.offset + 1}–${p.offset + p.items.length} of ${p.total}`;
      prev.disabled = p.offset === 0;
      next.disabled = p.offset + p.items.length >= p.total;
      el.dataset.total = String(p.total);
    } catch (err) {
      showError(err);
      replace(body, h('tr', {}, h('td', { colspan: o.columns.length, class: 'empty error' }, typeof err.describe === 'function' ? err.describe() : String(err))));
    } finally {
      loading = false;
      if (again) { again = false; load(); }
    }
  }

  load();
  if (o.refresh && o.ctx) {
    const t = setInterval(() => { if (!document.hidden) load(); }, o.refresh);
    o.ctx.onLeave(() => clearInterval(t));
  }
  return { el, reload: load };
}

// detailTable shows label/value rows; values may be nodes.
export function detailTable(rows) {
  return h('table', { class: 'detail' }, h('tbody', {},
    rows.filter(Boolean).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v ?? '')))));
}

// ---------------------------------------------------------------------------
// Forms

export function field(label, control, help) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control, help ? h('small', { class: 'help' }, help) : null);
}

export function input(name, attrs = {}) { return h('input', { name, type: 'text', ...attrs }); }

export function textarea(name, attrs = {}) { return h('textarea', { name, rows: 6, ...attrs }); }

export function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs }, options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: String(v) === String(value ?? '') }, label);
  }));
}

export function checkbox(name, checked, label) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', name, checked: !!checked }), ' ', label);
}

// parseList splits "a, b c" into ["a", "b", "c"].
export function parseList(s) {
  return String(s || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

// formValues reads named controls: checkboxes as booleans, others as strings.
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

// submitForm wires a form to an async action; the submit button is busy
// while it runs and any failure is shown.
export function submitForm(form, action) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    busy(btn, () => action(formValues(form)))();
  });
  return form;
}

// tabs switches between named panels built on demand.
export function tabs(items, initial) {
  const bar = h('nav', { class: 'tabs' });
  const panel = h('div', { class: 'tab-panel' });
  const show = (key) => {
    for (const b of bar.children) b.classList.toggle('active', b.dataset.key === key);
    const item = items.find((i) => i.key === key) || items[0];
    run(async () => replace(panel, await item.render()));
  };
  for (const it of items) bar.append(h('button', { class: 'tab', data: { key: it.key }, onclick: () => show(it.key) }, it.title));
  show(initial || items[0].key);
  return h('div', { class: 'tabbed' }, bar, panel);
}

// idLink links to an entity's page.
export function idLink(route, ref, text) {
  if (!ref) return '';
  const id = typeof ref === 'string' ? ref : ref.id;
  const label = text || (typeof ref === 'object' && ref.name) || id;
  return h('a', { href: `#/${route}/${encodeURIComponent(id)}` }, label);
}

// jsonBlock shows a value as indented JSON.
export function jsonBlock(v) { return h('pre', { class: 'json' }, JSON.stringify(v, null, 2)); }
