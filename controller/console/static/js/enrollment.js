// Showing an enrollment: its JWT to copy or download, and the same JWT as a
// QR code for devices that scan it.

import { h, fmtTime, fmtAgo, copyButton, downloadLink, badge } from './dom.js';
import { encode, toSVG } from './qr.js';

// enrollmentPanel shows one pending enrollment (of an identity or a router).
// filename names the downloaded JWT; extra holds buttons such as "refresh".
export function enrollmentPanel({ method, jwt, expiresAt, username }, filename, extra) {
  const expired = expiresAt && new Date(expiresAt).getTime() < Date.now();
  const parts = [
    h('p', {}, badge(method, 'tag'), ' ',
      expired ? badge('expired', 'bad') : badge('pending', 'warn'), ' ',
      expiresAt ? h('span', { class: 'muted', title: fmtTime(expiresAt) }, expired ? `expired ${fmtAgo(expiresAt)}` : `expires ${fmtAgo(expiresAt)}`) : null,
      username ? h('span', { class: 'muted' }, ` · username ${username}`) : null),
  ];
  if (jwt) {
    let qr;
    try {
      qr = toSVG(encode(jwt, { level: 'L' }), { title: `enrollment QR code (${filename})` });
    } catch (err) {
      qr = h('p', { class: 'error' }, `No QR code: ${err.message}`);
    }
    parts.push(h('div', { class: 'enrollment' },
      h('div', { class: 'enrollment-jwt' },
        h('textarea', { readonly: true, rows: 7, class: 'jwt', 'aria-label': 'enrollment JWT' }, jwt),
        h('div', { class: 'actions' }, copyButton(jwt, 'Copy JWT'), downloadLink(jwt, filename, `Download ${filename}`), extra || null),
        h('small', { class: 'help' }, 'Enroll with `ostium enroll ', filename, '` or any OpenZiti SDK or tunneler; scan the code from a mobile tunneler.')),
      h('div', { class: 'enrollment-qr' }, qr)));
  } else if (extra) {
    parts.push(h('div', { class: 'actions' }, extra));
  }
  return h('section', { class: 'panel enrollment-panel' }, h('h2', {}, 'Enrollment'), parts);
}
