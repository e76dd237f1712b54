// Forms for the built-in config types, intercept.v1 (what a client-side
// tunneler captures) and host.v1 (where a hosting tunneler connects), and raw
// JSON for every other type. Fields a form does not show are kept as they
// were, and "Edit as JSON" switches to the whole document at any time.

import { h, replace } from './dom.js';
import { field, parseList } from './widgets.js';

// ports parses "80, 443, 8000-8100" into port ranges.
export function parsePortRanges(s) {
  return parseList(s).map((p) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p);
    if (!m) throw new Error(`"${p}" is not a port or a range like 8000-8100`);
    const low = Number(m[1]);
    const high = Number(m[2] ?? m[1]);
    if (low > 65535 || high > 65535 || low > high) throw new Error(`"${p}" is not a valid port range`);
    return { low, high };
  });
}

export function formatPortRanges(list) {
  return (list || []).map((r) => (r.low === r.high ? `${r.low}` : `${r.low}-${r.high}`)).join(', ');
}

const text = (name, value, attrs = {}) => h('input', { name, type: 'text', value: value ?? '', ...attrs });
const num = (name, value, attrs = {}) => h('input', { name, type: 'number', value: value ?? '', ...attrs });
const check = (name, checked, label) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name, checked: !!checked }), ' ', label);
const pick = (name, options, value) => h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o || '—')));

function setOpt(obj, key, value) {
  if (value === '' || value === undefined || value === null || (Array.isArray(value) && value.length === 0)) delete obj[key];
  else obj[key] = value;
}

const intNum = (v, what) => {
  if (v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a whole number`);
  return n;
};

// intercept.v1
function interceptFields(d) {
  const protos = d.protocols || ['tcp'];
  return [
    h('fieldset', { class: 'inline' }, h('legend', {}, 'Protocols'), check('proto_tcp', protos.includes('tcp'), 'TCP'), check('proto_udp', protos.includes('udp'), 'UDP')),
    field('Addresses', text('addresses', (d.addresses || []).join(', '), { placeholder: 'app.ziti, 10.0.0.0/24, *.corp.example' }), 'Host names, IP addresses, CIDRs or *.domain wildcards the client intercepts.'),
    field('Ports', text('portRanges', formatPortRanges(d.portRanges), { placeholder: '80, 443, 8000-8100' })),
    field('Source IP (optional)', text('sourceIp', d.sourceIp, { placeholder: '$src_ip:$src_port' })),
    field('Dial identity (optional)', text('dialIdentity', d.dialOptions && d.dialOptions.identity), 'When several identities host the service, the one to reach.'),
    field('Connect timeout, seconds (optional)', num('connectTimeoutSeconds', d.dialOptions && d.dialOptions.connectTimeoutSeconds, { min: 0 })),
  ];
}

function interceptValue(v, base) {
  const d = { ...base };
  d.protocols = [v.proto_tcp && 'tcp', v.proto_udp && 'udp'].filter(Boolean);
  if (!d.protocols.length) throw new Error('choose at least one protocol');
  d.addresses = parseList(v.addresses);
  if (!d.addresses.length) throw new Error('give at least one address to intercept');
  d.portRanges = parsePortRanges(v.portRanges);
  if (!d.portRanges.length) throw new Error('give at least one port');
  setOpt(d, 'sourceIp', v.sourceIp.trim());
  const dial = { ...(d.dialOptions || {}) };
  setOpt(dial, 'identity', v.dialIdentity.trim());
  setOpt(dial, 'connectTimeoutSeconds', intNum(v.connectTimeoutSeconds, 'the connect timeout'));
  setOpt(d, 'dialOptions', Object.keys(dial).length ? dial : undefined);
  return d;
}

// host.v1: protocol, address and port are each either fixed or forwarded
// from what the client intercepted (within an allowed set).
function hostFields(d) {
  const lo = d.listenOptions || {};
  return [
    h('div', { class: 'grid3' },
      h('fieldset', {}, h('legend', {}, 'Protocol'),
        field('Fixed', pick('protocol', ['', 'tcp', 'udp'], d.protocol || (d.forwardProtocol ? '' : 'tcp'))),
        check('forwardProtocol', d.forwardProtocol, 'Forward the intercepted protocol'),
        field('Allowed when forwarding', text('allowedProtocols', (d.allowedProtocols || []).join(', '), { placeholder: 'tcp, udp' }))),
      h('fieldset', {}, h('legend', {}, 'Address'),
        field('Fixed', text('address', d.address, { placeholder: 'localhost or 10.0.0.5' })),
        check('forwardAddress', d.forwardAddress, 'Forward the intercepted address'),
        field('Allowed when forwarding', text('allowedAddresses', (d.allowedAddresses || []).join(', '), { placeholder: '10.0.0.0/24' }))),
      h('fieldset', {}, h('legend', {}, 'Port'),
        field('Fixed', num('port', d.port, { min: 0, max: 65535 })),
        check('forwardPort', d.forwardPort, 'Forward the intercepted port'),
        field('Allowed when forwarding', text('allowedPortRanges', formatPortRanges(d.allowedPortRanges), { placeholder: '80, 443, 8000-8100' })))),
    field('Allowed source addresses (optional)', text('allowedSourceAddresses', (d.allowedSourceAddresses || []).join(', '))),
    h('fieldset', { class: 'inline' }, h('legend', {}, 'Listen options'),
      check('bindUsingEdgeIdentity', lo.bindUsingEdgeIdentity, 'Bind using the edge identity'),
      field('Precedence', pick('precedence', ['', 'default', 'required', 'failed'], lo.precedence || '')),
      field('Cost', num('cost', lo.cost, { min: 0, max: 65535 })),
      field('Max connections', num('maxConnections', lo.maxConnections, { min: 1 }))),
  ];
}

function hostValue(v, base) {
  const d = { ...base };
  const pair = (fixedKey, fixed, fwdKey, fwd, allowedKey, allowed, what) => {
    setOpt(d, fixedKey, fwd ? undefined : fixed);
    setOpt(d, fwdKey, fwd ? true : undefined);
    setOpt(d, allowedKey, fwd ? allowed : undefined);
    if (!fwd && (fixed === undefined || fixed === '')) throw new Error(`give the ${what} to connect to, or forward it`);
    if (fwd && (!allowed || !allowed.length)) throw new Error(`forwarding the ${what} needs the allowed values`);
  };
  pair('protocol', v.protocol, 'forwardProtocol', v.forwardProtocol, 'allowedProtocols', parseList(v.allowedProtocols), 'protocol');
  pair('address', v.address.trim(), 'forwardAddress', v.forwardAddress, 'allowedAddresses', parseList(v.allowedAddresses), 'address');
  const port = intNum(v.port, 'the port');
  if (port !== undefined && port > 65535) throw new Error('the port must be at most 65535');
  pair('port', port, 'forwardPort', v.forwardPort, 'allowedPortRanges', v.forwardPort ? parsePortRanges(v.allowedPortRanges) : [], 'port');
  setOpt(d, 'allowedSourceAddresses', parseList(v.allowedSourceAddresses));
  const lo = { ...(d.listenOptions || {}) };
  setOpt(lo, 'bindUsingEdgeIdentity', v.bindUsingEdgeIdentity || undefined);
  setOpt(lo, 'precedence', v.precedence);
  setOpt(lo, 'cost', intNum(v.cost, 'the cost'));
  setOpt(lo, 'maxConnections', intNum(v.maxConnections, 'max connections'));
  setOpt(d, 'listenOptions', Object.keys(lo).length ? lo : undefined);
  return d;
}

const KINDS = {
  'intercept.v1': { fields: interceptFields, value: interceptValue, blank: { protocols: ['tcp'], addresses: [], portRanges: [] } },
  'host.v1': { fields: hostFields, value: hostValue, blank: { protocol: 'tcp', address: 'localhost' } },
};

export const hasForm = (type) => type in KINDS;

function values(container) {
  const out = {};
  for (const el of container.querySelectorAll('input[name], select[name], textarea[name]')) {
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

// configEditor edits the data of a config of a type. value() returns the
// document or throws an Error saying what is wrong.
export function configEditor(type, data) {
  const kind = KINDS[type];
  let asJSON = !kind;
  let doc = data || (kind ? structuredClone(kind.blank) : {});
  const body = h('div', { class: 'config-editor-body' });
  const toggle = h('button', { type: 'button', class: 'small link' });
  const draw = () => {
    if (asJSON) {
      replace(body, h('textarea', { name: 'json', class: 'json', rows: 12, spellcheck: 'false' }, JSON.stringify(doc, null, 2)));
    } else {
      replace(body, kind.fields(doc));
    }
    toggle.textContent = asJSON ? 'Edit with the form' : 'Edit as JSON';
    toggle.hidden = !kind;
  };
  const current = () => {
    if (asJSON) {
      try {
        return JSON.parse(body.querySelector('textarea').value);
      } catch (err) {
        throw new Error(`the JSON is not valid: ${err.message}`);
      }
    }
    return kind.value(values(body), doc);
  };
  toggle.addEventListener('click', () => {
    try {
      doc = current();
      asJSON = !asJSON;
      draw();
    } catch (err) {
      body.prepend(h('p', { class: 'error' }, err.message));
    }
  });
  draw();
  return { el: h('div', { class: 'config-editor', data: { type } }, h('div', { class: 'config-editor-bar' }, h('strong', {}, type), ' ', toggle), body), value: current };
}
