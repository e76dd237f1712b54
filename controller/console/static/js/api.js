// The Edge Management API as the console uses it: every call carries the
// signed-in credential, every answer is unwrapped from its {data, meta}
// envelope, and every failure becomes an ApiError carrying the envelope's
// code, message, cause and request id, so the page can show it as it is.

export const BASE = '/edge/management/v1';
export const CLIENT_BASE = '/edge/client/v1';
const STORE_KEY = 'ostium.console.session';

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const e = (body && body.error) || {};
    super(e.message || fallback || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status ? `HTTP_${status}` : 'NETWORK');
    this.cause = e.cause || null;
    this.requestId = e.requestId || '';
  }
  // describe is the one-line text shown to the user.
  describe() {
    let s = `${this.code}: ${this.message}`;
    const c = this.cause;
    if (c && (c.field || c.reason)) {
      s += ` (${[c.field, c.reason].filter(Boolean).join(': ')}${c.value !== undefined && c.value !== '' ? ` = ${JSON.stringify(c.value)}` : ''})`;
    } else if (c && c.message) {
      s += ` (${c.message})`;
    }
    return s;
  }
}

// session is the signed-in credential: {token, kind: 'session'|'token',
// name, readOnly}. It lives in sessionStorage: one tab, gone when it closes.
let session = null;
let onUnauthorized = () => {};
try { session = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null'); } catch { session = null; }

export function currentSession() { return session; }

export function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(STORE_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(STORE_KEY);
}

// whenUnauthorized sets what happens when the API refuses the credential.
export function whenUnauthorized(fn) { onUnauthorized = fn; }

export function authHeaders(s = session) {
  if (!s) return {};
  return s.kind === 'token' ? { Authorization: `Bearer ${s.token}` } : { 'zt-session': s.token };
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// call sends one request and returns the decoded envelope. opts.base picks
// the API (default: management); opts.session overrides the credential
// (sign-in); opts.quiet401 keeps a 401 from ending the session.
export async function call(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(opts.session === undefined ? session : opts.session) };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch((opts.base || BASE) + path, init);
  } catch (err) {
    throw new ApiError(0, null, `the controller could not be reached: ${err.message}`);
  }
  const text = await resp.text();
  let env = null;
  if (text) {
    try { env = JSON.parse(text); } catch { env = null; }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, env, text ? text.slice(0, 200) : resp.statusText);
    if (resp.status === 401 && session && !opts.quiet401 && opts.session === undefined) onUnauthorized(err);
    throw err;
  }
  if (env === null && text) throw new ApiError(resp.status, null, 'the answer was not JSON');
  env = env || {};
  env.headers = resp.headers;
  return env;
}

export const get = (path, params, opts) => call('GET', path + query(params), undefined, opts);
export const post = (path, body, opts) => call('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body) => call('PUT', path, body);
export const patch = (path, body) => call('PATCH', path, body);
export const del = (path) => call('DELETE', path);

// data returns the data of a GET.
export async function data(path, params) { return (await get(path, params)).data; }

// page lists one page: {items, total, limit, offset}.
export async function page(path, { limit = 25, offset = 0, filter = '', sort = '' } = {}) {
  const env = await get(path, { limit, offset, filter, sort });
  const p = (env.meta && env.meta.pagination) || {};
  const items = env.data || [];
  return { items, total: p.totalCount ?? items.length, limit: p.limit ?? limit, offset: p.offset ?? offset };
}

// count is a list's totalCount for a filter.
export async function count(path, filter = '') {
  return (await page(path, { limit: 1, filter })).total;
}

// all walks a list to its end (at most max items), 500 at a time.
export async function all(path, { filter = '', sort = '', max = 5000 } = {}) {
  const out = [];
  for (let offset = 0; offset < max;) {
    const p = await page(path, { limit: 500, offset, filter, sort });
    out.push(...p.items);
    offset += p.items.length;
    if (p.items.length === 0 || offset >= p.total) break;
  }
  return out;
}

// quote makes a string literal of the filter language.
export function quote(s) { return JSON.stringify(String(s)); }
