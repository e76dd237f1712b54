// Building blocks of every page: element construction, formatting, the
// notice area where API errors are shown, dialogs and confirmation.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element: h('a', {href: '#/x', onclick: fn}, 'text', child, [more]).
// Tags prefixed "svg:" are made in the SVG namespace. null, undefined and
// false children are skipped, so conditions read inline.
export function h(tag, attrs, ...kids) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
    else if (!svg && (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled')) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

// replace empties el and fills it with kids.
export function replace(el, ...kids) {
  el.replaceChildren();
  return append(el, kids);
}

export const esc = (s) => String(s ?? '');

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  if (d.getUTCFullYear() >= 9999) return 'never';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function fmtAgo(t) {
  if (!t) return '';
  const d = new Date(t).getTime();
  if (Number.isNaN(d)) return String(t);
  let s = Math.round((Date.now() - d) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  const part = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
  return future ? `in ${part}` : `${part} ago`;
}

export function timeCell(t) {
  return t ? h('time', { datetime: t, title: fmtTime(t) }, fmtAgo(t)) : '';
}

export function fmtBytes(n) {
  n = Number(n) || 0;
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

export function fmtMs(v) {
  if (v === undefined || v === null || v === '') return '';
  const n = Number(v);
  if (Number.isNaN(n)) return String(v);
  return n < 10 ? `${n.toFixed(2)} ms` : `${Math.round(n)} ms`;
}

export function badge(text, kind = '') { return h('span', { class: ['badge', kind] }, text); }

export function yesNo(v, yes = 'yes', no = 'no') { return v ? badge(yes, 'ok') : badge(no, 'muted'); }

export function tags(list) {
  return h('span', { class: 'tags' }, (list || []).map((t) => badge(t, 'tag')));
}

// ---------------------------------------------------------------------------
// Notices: API errors and confirmations, shown above the page.

let noticeArea = null;
export function setNoticeArea(el) { noticeArea = el; }

export function notify(text, kind = 'info', { sticky = false } = {}) {
  if (!noticeArea) return;
  const n = h('div', { class: ['notice', kind], role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'notice-text' }, text),
    h('button', { class: 'link', title: 'Dismiss', onclick: () => n.remove() }, '×'));
  noticeArea.append(n);
  if (!sticky && kind !== 'error') setTimeout(() => n.remove(), 5000);
  return n;
}

// showError puts an error where the user sees it; ApiErrors carry their
// code, cause and request id.
export function showError(err) {
  console.error(err);
  const text = typeof err.describe === 'function' ? err.describe() : String(err.message || err);
  const n = notify(text, 'error');
  if (n && err.requestId) n.querySelector('.notice-text').append(h('span', { class: 'muted' }, ` · request ${err.requestId}`));
  return n;
}

export function clearNotices() { if (noticeArea) noticeArea.replaceChildren(); }

// run performs an action, shows its failure and reports success or not.
export async function run(fn) {
  try {
    await fn();
    return true;
  } catch (err) {
    showError(err);
    return false;
  }
}

// busy disables a button while its action runs.
export function busy(button, fn) {
  return async (ev) => {
    if (ev) ev.preventDefault();
    button.disabled = true;
    try { await run(fn); } finally { button.disabled = false; }
  };
}

// ---------------------------------------------------------------------------
// Dialogs

export function dialog(title, body, { wide = false } = {}) {
  const d = h('dialog', { class: ['dialog', wide && 'wide'] },
    h('header', {}, h('h2', {}, title), h('button', { class: 'link close', title: 'Close', onclick: () => d.close() }, '×')),
    h('div', { class: 'dialog-body' }, body));
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

// confirmAction asks before something that cannot be undone.
export function confirmAction(question, label = 'Delete') {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { class: 'danger', onclick: () => { answer = true; d.close(); } }, label);
    const d = dialog('Are you sure?', [h('p', {}, question),
      h('div', { class: 'actions' }, h('button', { onclick: () => d.close() }, 'Cancel'), yes)]);
    d.addEventListener('close', () => resolve(answer));
    yes.focus();
  });
}

// copyButton copies text to the clipboard.
export function copyButton(text, label = 'Copy') {
  const b = h('button', {
    class: 'small', onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        b.textContent = 'Copied';
      } catch {
        b.textContent = 'Select and copy';
      }
      setTimeout(() => { b.textContent = label; }, 1500);
    },
  }, label);
  return b;
}

// download offers text as a file.
export function downloadLink(text, filename, label) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/octet-stream' }));
  return h('a', { class: 'button small', href: url, download: filename }, label || `Download ${filename}`);
}
