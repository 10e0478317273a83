// Query: SQL or InfluxQL, $parameters, history, results as a table and a chart, export.
import { api, literal, sql } from '../js/api.js';
import { chartData, timeChart } from '../js/chart.js';
import { button, download, errorBox, field, h, message, select, show } from '../js/dom.js';
import { codeEditor } from '../js/editor.js';
import { resultTable } from '../js/results.js';

const HISTORY_KEY = 'timewell.history';
const HISTORY_SIZE = 50;
const ENDPOINT = { sql: '/api/v3/query_sql', influxql: '/api/v3/query_influxql' };
const DRAFT_KEY = 'timewell.query';

export function history() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY)) || []; } catch { return []; }
}

function remember(entry) {
  const kept = history().filter((e) => e.q !== entry.q || e.language !== entry.language);
  localStorage.setItem(HISTORY_KEY, JSON.stringify([entry, ...kept].slice(0, HISTORY_SIZE)));
}

function parameterNames(text) {
  const names = new Set();
  // not inside quotes: good enough for picking the inputs to show
  const stripped = text.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*/g, '');
  for (const m of stripped.matchAll(/\$([A-Za-z_]\w*)/g)) names.add(m[1]);
  return [...names];
}

export async function queryPage(main, ctx) {
  const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || 'null')
    || { q: ctx.db ? 'SHOW TABLES' : 'SELECT 1', language: 'sql' };
  const language = select([['sql', 'SQL'], ['influxql', 'InfluxQL']], draft.language,
    { 'aria-label': 'Query language' });
  const paramValues = {};
  const paramsBox = h('div', { class: 'params' });
  const renderParams = (text) => {
    const names = parameterNames(text);
    show(paramsBox, names.map((name) => {
      const input = h('input', { type: 'text', value: paramValues[name] ?? '',
        oninput: (e) => { paramValues[name] = e.target.value; } });
      return field(`$${name}`, input);
    }));
  };
  const editor = codeEditor({
    label: 'Query', value: draft.q, language: 'sql', rows: 6, onRun: () => run(),
    onInput: (text) => {
      renderParams(text);
      sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ q: text, language: language.value }));
    },
  });
  language.addEventListener('change', () => {
    sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ q: editor.value,
      language: language.value }));
  });
  renderParams(draft.q);

  const historyPicker = h('select', { 'aria-label': 'History' });
  const fillHistory = () => {
    const entries = history();
    historyPicker.replaceChildren(h('option', { value: '' }, `History (${entries.length})`),
      ...entries.map((e, i) => h('option', { value: String(i) },
        `${e.language === 'influxql' ? '[InfluxQL] ' : ''}${e.q.replace(/\s+/g, ' ').slice(0, 90)}`)));
  };
  historyPicker.addEventListener('change', () => {
    const entry = history()[Number(historyPicker.value)];
    if (entry) {
      language.value = entry.language;
      editor.value = entry.q;
      editor.focus();
    }
    historyPicker.value = '';
  });
  fillHistory();

  const runButton = h('button', { type: 'submit', class: 'primary' }, 'Run');
  const cancelButton = button('Cancel', () => cancel(), { hidden: true });
  const status = h('div', { class: 'status', role: 'status' });
  const errorSlot = h('div');
  const exportBar = h('div', { class: 'export', hidden: true }, 'Export: ',
    ['csv', 'json', 'parquet'].map((format) => button(format.toUpperCase(),
      () => exportAs(format), { class: 'small' })));
  const chartSlot = h('div');
  const tableSlot = h('div');
  let controller = null;
  let chart = null;
  ctx.signal.addEventListener('abort', () => { controller?.abort(); chart?.destroy?.(); });

  const request = (format, signal) => {
    const params = {};
    for (const name of parameterNames(editor.value)) params[name] = paramValues[name] ?? '';
    return api('POST', ENDPOINT[language.value], { json: { db: ctx.db, q: editor.value,
      format, params: Object.keys(params).length ? params : undefined }, signal, raw: true });
  };

  async function run() {
    if (controller) return;
    const q = editor.value.trim();
    if (!q) return;
    controller = new AbortController();
    controller.text = editor.value;
    const started = performance.now();
    runButton.disabled = true;
    cancelButton.hidden = false;
    show(errorSlot);
    const tick = setInterval(() => show(status, h('span', { class: 'spinner' }),
      ` Running… ${((performance.now() - started) / 1000).toFixed(1)} s`), 100);
    show(status, h('span', { class: 'spinner' }), ' Running…');
    remember({ q: editor.value, language: language.value, db: ctx.db, at: Date.now() });
    fillHistory();
    try {
      const response = await request('json', controller.signal);
      const rows = await response.json();
      const ms = performance.now() - started;
      show(status, `${rows.length} row${rows.length === 1 ? '' : 's'} in ${ms.toFixed(0)} ms`);
      chart?.destroy?.();
      chart = null;
      const data = chartData(rows);
      if (data) chart = timeChart(data, { title: 'Result over time' });
      show(chartSlot, chart);
      show(tableSlot, resultTable(rows));
      exportBar.hidden = rows.length === 0;
    } catch (error) {
      if (error.name === 'AbortError') {
        show(status, 'Cancelled.');
      } else {
        show(status);
        show(errorSlot, errorBox(message(error)));
      }
    } finally {
      clearInterval(tick);
      controller = null;
      runButton.disabled = false;
      cancelButton.hidden = true;
    }
  }

  // Closing the request stops a query at its next read; killing it by id (system.queries)
  // stops one busy elsewhere too.
  async function cancel() {
    const running = controller;
    if (!running) return;
    running.abort();
    const db = ctx.db;
    try {
      const queries = await sql(db, 'SELECT id FROM system.queries WHERE running AND '
        + `query_text = ${literal(running.text)} AND database = ${literal(db)}`);
      await Promise.all(queries.map((q) => api('DELETE', '/api/v3/query', { params: { id: q.id } })
        .catch(() => {})));
    } catch { /* it may have ended meanwhile */ }
  }

  async function exportAs(format) {
    try {
      const response = await request(format);
      download(`query.${format}`, await response.blob());
    } catch (error) {
      show(errorSlot, errorBox(message(error)));
    }
  }

  const form = h('form', { class: 'query-form', onsubmit: (e) => { e.preventDefault(); run(); } },
    h('div', { class: 'toolbar' }, language, historyPicker,
      h('span', { class: 'hint' }, 'Ctrl/⌘ + Enter runs')),
    editor.el, paramsBox,
    h('div', { class: 'toolbar' }, runButton, cancelButton, status),
    errorSlot);
  show(main, h('h1', {}, 'Query'), form, exportBar, chartSlot, tableSlot);
  editor.focus();
}
