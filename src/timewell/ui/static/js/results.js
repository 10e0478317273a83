// Query results as a table: paged, sorted by a click on a column header.
import { formatCell, h } from './dom.js';

export function columnsOf(rows) {
  const seen = new Set();
  for (const row of rows.slice(0, 1000)) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

export function resultTable(rows, { pageSize = 100 } = {}) {
  const columns = columnsOf(rows);
  let sortBy = null;
  let descending = false;
  let page = 0;
  let view = rows;
  const wrap = h('div', { class: 'results' });

  const render = () => {
    const pages = Math.max(1, Math.ceil(view.length / pageSize));
    page = Math.min(page, pages - 1);
    const slice = view.slice(page * pageSize, (page + 1) * pageSize);
    const head = h('tr', {}, columns.map((c) => {
      const sorted = c === sortBy ? (descending ? 'descending' : 'ascending') : 'none';
      return h('th', { scope: 'col', 'aria-sort': sorted },
        h('button', { type: 'button', class: 'sort', onclick: () => sort(c) },
          c, sorted === 'none' ? '' : (descending ? ' ▼' : ' ▲')));
    }));
    const body = slice.map((row) => h('tr', {}, columns.map((c) => {
      const value = row[c];
      return h('td', { class: typeof value === 'number' ? 'num' : null }, formatCell(value));
    })));
    const first = view.length ? page * pageSize + 1 : 0;
    const last = page * pageSize + slice.length;
    wrap.replaceChildren(
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('thead', {}, head), h('tbody', {}, body))),
      h('div', { class: 'pager' },
        h('button', { type: 'button', disabled: page === 0, onclick: () => { page -= 1; render(); } },
          '‹ Previous'),
        h('span', { class: 'pager-info' }, `Rows ${first}–${last} of ${view.length}`),
        h('button', { type: 'button', disabled: page >= pages - 1,
          onclick: () => { page += 1; render(); } }, 'Next ›')));
  };
  const sort = (column) => {
    descending = column === sortBy ? !descending : false;
    sortBy = column;
    view = [...rows].sort((a, b) => compare(a[column], b[column]) * (descending ? -1 : 1));
    page = 0;
    render();
  };
  render();
  return wrap;
}
