// Building the page: elements from data, always as text (never HTML from data).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled'
               || key === 'hidden') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

let ids = 0;
export function uid(prefix = 'f') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form control: the label names the control for screen readers. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === value }, text);
  }));
}

export function button(text, onclick, attrs = {}) {
  return h('button', { type: 'button', onclick, ...attrs }, text);
}

export function errorBox(message) {
  return h('div', { class: 'error', role: 'alert' }, message);
}

export function notice(message, kind = 'ok') {
  return h('div', { class: `notice ${kind}`, role: 'status' }, message);
}

/** Put `content` (or nothing) into `slot`. */
export function show(slot, ...content) {
  slot.replaceChildren();
  append(slot, content);
}

/** A table of rows (objects) with the given columns; cells are text. */
export function simpleTable(columns, rows, caption, extra) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label ?? c)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => {
      const key = c.key ?? c;
      const value = c.render ? c.render(row) : formatCell(row[key]);
      return h('td', { class: c.class }, value);
    })))),
    extra || null));
}

export function formatCell(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : String(Math.round(value * 1e6) / 1e6);
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function message(error) {
  return error?.message || String(error);
}

/** A timer the page clears when it is left. */
export function every(ms, fn, signal) {
  const id = setInterval(() => { if (!document.hidden) fn(); }, ms);
  signal.addEventListener('abort', () => clearInterval(id));
}
