// Small DOM helpers: elements from a tag, attributes and children; numbers and times as people read them.

/** h('button', { onclick, class: 'x', 'aria-label': 'Pause' }, 'Pause') */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** A labelled control: the label names the input for the accessibility tree. */
let nextId = 0;
export function field(label, control, hint) {
  const id = control.id || (control.id = 'f' + (++nextId));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

export function select(options, value, attrs) {
  return h('select', attrs, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

const units = ['', 'k', 'M', 'G', 'T', 'P'];

/** 1234567 → "1.23 M" (SI, three significant digits). */
export function si(n) {
  if (n == null || !isFinite(n)) return '';
  let i = 0, v = Math.abs(n);
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  const digits = v >= 100 || i === 0 && Number.isInteger(v) ? 0 : v >= 10 ? 1 : 2;
  return (n < 0 ? '-' : '') + v.toFixed(digits) + (units[i] ? ' ' + units[i] : '');
}

/** Whole numbers with thousands separators, as the tables show counts. */
export function count(n) {
  return n == null ? '' : Number(n).toLocaleString('en-US');
}

/** An RFC 3339 time (whole seconds, UTC) as the API takes it. */
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2026-12-06 10:15:00" in UTC, for a datetime input and the tables. */
export function utc(date) {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/** Parses "2026-12-06 10:15[:00]" (UTC) or an RFC 3339 time; null when it is neither. */
export function parseUtc(text) {
  const t = text.trim();
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(:\d{2})?)(Z)?$/.exec(t);
  const d = new Date(m ? `${m[1]}T${m[2]}${m[3] ? '' : ':00'}Z` : t);
  return isNaN(d.getTime()) ? null : d;
}

/** Saves text as a file the browser downloads. */
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A status line for a page: what is happening, or what went wrong. */
export function status() {
  const el = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  el.show = (text, error) => {
    el.textContent = text || '';
    el.classList.toggle('error', !!error);
  };
  return el;
}

/** A table from column names and rows (arrays of cells), with a caption. */
export function table(caption, columns, rows, attrs) {
  return h('table', attrs, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.name || c)))),
    h('tbody', {}, rows.map(r => h('tr', {}, r.map((cell, i) => h('td', { class: columns[i] && columns[i].num ? 'num' : null }, cell))))));
}
