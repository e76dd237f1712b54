// The controller's event stream (Server-Sent Events at /events), read with
// fetch so that the credential travels in a header, as for every other call.
// The stream reconnects with backoff until it is closed.

import * as api from './api.js';

// subscribe calls onEvent(event) for each event of the given types (e.g.
// ["circuit", "entity"]; empty for all) and onState(state, detail) as the
// stream connects ("live"), drops ("retrying") or cannot be had
// ("unavailable", "error"). It returns a function that ends the stream.
export function subscribe(types, onEvent, onState = () => {}) {
  let closed = false;
  let ctrl = null;
  let delay = 1000;

  async function once() {
    ctrl = new AbortController();
    const resp = await fetch(`${api.BASE}/events${api.query({ types: (types || []).join(',') })}`, {
      headers: { Accept: 'text/event-stream', ...api.authHeaders() }, signal: ctrl.signal, cache: 'no-store',
    });
    if (!resp.ok) {
      let body = null;
      try { body = await resp.json(); } catch { body = null; }
      const err = new api.ApiError(resp.status, body);
      err.fatal = resp.status === 404 || resp.status === 401 || resp.status === 403 || resp.status === 400;
      throw err;
    }
    onState('live');
    delay = 1000;
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let dataLines = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (dataLines.length) dispatch(dataLines.join('\n'));
          dataLines = [];
        } else if (line.startsWith('data:')) {
          dataLines.push(line.slice(5).replace(/^ /, ''));
        }
      }
    }
  }

  function dispatch(text) {
    let ev;
    try { ev = JSON.parse(text); } catch { return; }
    try { onEvent(ev); } catch (err) { console.error('event handler', err); }
  }

  (async () => {
    while (!closed) {
      try {
        await once();
        if (!closed) onState('retrying', 'the stream ended');
      } catch (err) {
        if (closed) return;
        if (err.fatal) { onState(err.status === 404 ? 'unavailable' : 'error', err); return; }
        onState('retrying', err);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  })();

  return () => { closed = true; if (ctrl) ctrl.abort(); };
}

// summary is a one-line description of an event for lists.
export function summary(ev) {
  const skip = new Set(['type', 'timestamp', 'time', 'createdAt', 'namespace', 'id', 'eventSrcId', 'version']);
  const parts = [];
  for (const [k, v] of Object.entries(ev)) {
    if (skip.has(k) || v === null || v === undefined || v === '') continue;
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    parts.push(`${k}=${s.length > 60 ? `${s.slice(0, 57)}…` : s}`);
  }
  return parts.join(' ');
}

export function eventTime(ev) { return ev.timestamp || ev.time || ev.createdAt || ''; }
