// Explore: databases → tables → columns, counts and time ranges, caches; create and delete.
import { api, ident, literal, sql } from '../js/api.js';
import { button, errorBox, field, h, message, notice, select, show, simpleTable } from '../js/dom.js';

function kindOf(type) {
  if (type.startsWith('Dictionary')) return 'tag';
  if (type.startsWith('Timestamp')) return 'time';
  return 'field';
}

/** Nanoseconds as the largest whole unit: 30d, 12h, 90m, 45s, 1500ms. */
function duration(ns) {
  const units = [['d', 86400e9], ['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6]];
  const [unit, size] = units.find(([, size]) => ns % size === 0) || ['ns', 1];
  return `${ns / size}${unit}`;
}

export async function explorePage(main, ctx) {
  const dbSlot = h('section', { 'aria-labelledby': 'dbs-title' });
  const tableSlot = h('section', { 'aria-labelledby': 'tables-title' });
  const detailSlot = h('section', { 'aria-live': 'polite' });
  const feedback = h('div');
  show(main, h('h1', {}, 'Explore'), feedback,
    h('div', { class: 'columns2' }, dbSlot, tableSlot), detailSlot);

  const act = async (what, fn) => {
    try {
      await fn();
      show(feedback, notice(what));
    } catch (error) {
      show(feedback, errorBox(message(error)));
    }
  };

  async function renderDatabases() {
    const names = await ctx.refreshDatabases();
    // system.databases (any database answers it) has the retention periods
    const retentions = new Map(names.length ? (await sql(names[0], 'SELECT database_name, '
      + 'retention_period_ns FROM system.databases WHERE NOT deleted').catch(() => []))
      .map((r) => [r.database_name, r.retention_period_ns]) : []);
    const name = h('input', { type: 'text', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]*(/[A-Za-z0-9_\\-]+)?' });
    const retention = h('input', { type: 'text', placeholder: 'e.g. 30d (optional)' });
    const create = (event) => {
      event.preventDefault();
      act(`Database ${name.value} created.`, async () => {
        const json = { db: name.value.trim() };
        if (retention.value.trim()) json.retention_period = retention.value.trim();
        await api('POST', '/api/v3/configure/database', { json });
        ctx.db = json.db;
        await renderDatabases();
        await renderTables();
      });
    };
    show(dbSlot, h('h2', { id: 'dbs-title' }, 'Databases'),
      names.length ? h('ul', { class: 'list' }, names.map((n) => h('li',
        { 'aria-current': n === ctx.db ? 'true' : null },
        button(n, () => { ctx.db = n; renderDatabases(); renderTables(); }, { class: 'link' }),
        ' ', h('span', { class: 'hint', 'data-testid': 'retention' },
          retentions.get(n) ? `keeps ${duration(retentions.get(n))}` : 'kept forever'),
        ' ', button('Delete', () => {
          if (!confirm(`Delete database ${n} and all its data?`)) return;
          act(`Database ${n} deleted.`, async () => {
            await api('DELETE', '/api/v3/configure/database', { params: { db: n } });
            if (ctx.db === n) ctx.db = '';
            await renderDatabases();
            await renderTables();
          });
        }, { class: 'small danger', 'aria-label': `Delete database ${n}` })))) : h('p', {}, 'No databases yet.'),
      h('form', { class: 'card', onsubmit: create, 'aria-label': 'Create database' },
        h('div', { class: 'row' }, field('New database', name), field('Retention', retention),
          h('button', { type: 'submit', class: 'primary' }, 'Create database'))));
  }

  async function renderTables() {
    detailSlot.replaceChildren();
    if (!ctx.db) { show(tableSlot); return; }
    const db = ctx.db;
    const tables = await sql(db, 'SELECT table_name, column_count, row_count, series_key '
      + 'FROM system.tables ORDER BY table_name').catch(() => []);
    const name = h('input', { type: 'text', required: true });
    const tags = h('input', { type: 'text', placeholder: 'room,floor' });
    const fields = h('input', { type: 'text', placeholder: 'temp:float64,on:bool' });
    const create = (event) => {
      event.preventDefault();
      act(`Table ${name.value} created.`, async () => {
        const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
        await api('POST', '/api/v3/configure/table', { json: { db, table: name.value.trim(),
          tags: list(tags.value), fields: list(fields.value).map((f) => {
            const [n, type = 'float64'] = f.split(':');
            return { name: n.trim(), type: type.trim() };
          }) } });
        await renderTables();
      });
    };
    show(tableSlot, h('h2', { id: 'tables-title' }, `Tables of ${db}`),
      tables.length ? simpleTable([
        { label: 'Table', render: (r) => button(r.table_name, () => renderTable(db, r.table_name),
          { class: 'small' }) },
        { key: 'row_count', label: 'Rows' }, { key: 'column_count', label: 'Columns' },
        { label: '', class: 'actions', render: (r) => button('Delete', () => {
          if (!confirm(`Delete table ${r.table_name}?`)) return;
          act(`Table ${r.table_name} deleted.`, async () => {
            await api('DELETE', '/api/v3/configure/table', { params: { db, table: r.table_name } });
            await renderTables();
          });
        }, { class: 'small danger', 'aria-label': `Delete table ${r.table_name}` }) }], tables)
        : h('p', {}, 'No tables yet.'),
      h('form', { class: 'card', onsubmit: create, 'aria-label': 'Create table' },
        h('div', { class: 'row' }, field('New table', name), field('Tags', tags),
          field('Fields (name:type)', fields, 'types: utf8, int64, uint64, float64, bool'),
          h('button', { type: 'submit' }, 'Create table'))));
  }

  async function renderTable(db, table) {
    show(detailSlot, h('span', { class: 'spinner', role: 'status' }), ' Loading…');
    const [columns, range, lastCaches, distinctCaches] = await Promise.all([
      sql(db, 'SELECT column_name, data_type FROM information_schema.columns '
        + `WHERE table_schema = 'iox' AND table_name = ${literal(table)}`),
      sql(db, `SELECT count(*) AS "rows", min(time) AS "first", max(time) AS "last" FROM ${ident(table)}`)
        .catch(() => [{}]),
      sql(db, 'SELECT * FROM system.last_caches').catch(() => []),
      sql(db, 'SELECT * FROM system.distinct_caches').catch(() => []),
    ]);
    const caches = [...lastCaches.map((c) => ({ ...c, kind: 'last' })),
      ...distinctCaches.map((c) => ({ ...c, kind: 'distinct' }))].filter((c) => c.table === table);
    const tagColumns = columns.filter((c) => kindOf(c.data_type) === 'tag').map((c) => c.column_name);
    const cacheKind = select([['last', 'Last value cache'], ['distinct', 'Distinct value cache']], 'last');
    const addCache = () => act('Cache created.', async () => {
      if (cacheKind.value === 'last') {
        await api('POST', '/api/v3/configure/last_cache', { json: { db, table } });
      } else {
        await api('POST', '/api/v3/configure/distinct_cache', { json: { db, table,
          columns: tagColumns.length ? tagColumns : columns.filter((c) => c.data_type === 'Utf8').map((c) => c.column_name) } });
      }
      await renderTable(db, table);
    });
    const r = range[0] || {};
    show(detailSlot, h('h2', {}, `Table ${table}`),
      h('p', {}, `${r.rows ?? '?'} rows`, r.first ? `, from ${r.first} to ${r.last}` : ''),
      simpleTable([{ key: 'column_name', label: 'Column' },
        { label: 'Kind', render: (c) => h('span', { class: 'badge' }, kindOf(c.data_type)) },
        { key: 'data_type', label: 'Type' }], columns),
      h('h2', {}, 'Caches'),
      caches.length ? simpleTable([{ key: 'kind', label: 'Kind' }, { key: 'name', label: 'Name' },
        { label: '', class: 'actions', render: (c) => button('Delete', () => act(`Cache ${c.name} deleted.`,
          async () => {
            await api('DELETE', `/api/v3/configure/${c.kind}_cache`, { params: { db, table, name: c.name } });
            await renderTable(db, table);
          }), { class: 'small danger' }) }], caches) : h('p', {}, 'No caches on this table.'),
      h('div', { class: 'toolbar' }, cacheKind, button('Add cache', addCache)),
      h('p', {}, button('Query this table', () => {
        sessionStorage.setItem('timewell.query', JSON.stringify({ language: 'sql',
          q: `SELECT * FROM ${ident(table)} ORDER BY time DESC LIMIT 100` }));
        ctx.go('#/query');
      })));
  }

  await renderDatabases();
  await renderTables();
}
