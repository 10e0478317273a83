// The processing engine: triggers with their stats refreshed live, enable / disable / delete,
// a trigger's own page (logs, arguments, run times), and the form that creates one.
import { api, literal, sql } from '../js/api.js';
import { chartData, timeChart } from '../js/chart.js';
import {
  button, errorBox, every, field, h, message, notice, select, show, simpleTable,
} from '../js/dom.js';
import { knownPlugins } from './plugins.js';

const REFRESH_MS = 2000;

export function kindOf(spec) {
  if (spec.startsWith('table:') || spec === 'all_tables') return 'write';
  if (spec.startsWith('every:') || spec.startsWith('cron:')) return 'schedule';
  if (spec.startsWith('request:')) return 'request';
  return '?';
}

const DURATION = /^(\d+(ns|us|µs|ms|s|m|h|d|w|sec|min|hours?|days?|weeks?))+$/;

/** A problem with a trigger specification, or '' when it looks right. */
export function specProblem(kind, value) {
  const v = value.trim();
  if (kind === 'all_tables') return '';
  if (!v) return 'required';
  if (kind === 'table' && /[\s,]/.test(v)) return 'a table name has no spaces or commas';
  if (kind === 'every' && !DURATION.test(v)) return 'a duration such as 10s, 5m, 1h30m';
  if (kind === 'cron') {
    const n = v.split(/\s+/).length;
    if (n < 5 || n > 7) return 'cron takes 5, 6 (seconds first) or 7 fields';
  }
  if (kind === 'request' && !/^[A-Za-z0-9_\-/.]+$/.test(v)) return 'letters, digits, _ - / . only';
  return '';
}

/** Run a schedule trigger once, now, on the server (its cache, stats and log as usual). */
export async function runNow(db, trigger) {
  const result = await api('POST', '/api/v3/configure/processing_engine_trigger/run',
    { params: { db, trigger_name: trigger.trigger_name } });
  if (result.error) throw new Error(`${trigger.trigger_name} ran and failed: ${result.error}`);
  return result;
}

async function triggers(db) {
  const [defs, stats, errors] = await Promise.all([
    sql(db, 'SELECT * FROM system.processing_engine_triggers ORDER BY trigger_name'),
    sql(db, 'SELECT * FROM system.processing_engine_trigger_stats').catch(() => []),
    sql(db, "SELECT trigger_name, log_text, event_time FROM system.processing_engine_logs "
      + "WHERE log_level = 'ERROR' ORDER BY event_time DESC LIMIT 200").catch(() => []),
  ]);
  const byName = new Map(stats.map((s) => [s.trigger_name, s]));
  const lastError = new Map();
  for (const e of errors) if (!lastError.has(e.trigger_name)) lastError.set(e.trigger_name, e);
  return defs.map((d) => ({ ...d, ...(byName.get(d.trigger_name) || {}),
    last_error: lastError.get(d.trigger_name)?.log_text }));
}

/** The time of day of a server timestamp, whole seconds. */
const clock = (t) => (t ? String(t).replace('T', ' ').slice(0, 19) : '');
const ms = (v) => (typeof v === 'number' ? `${v.toFixed(v < 10 ? 2 : 0)} ms` : '');

export async function enginePage(main, ctx) {
  const feedback = h('div');
  const listSlot = h('div', { 'aria-live': 'off' });
  const formSlot = h('section', { 'aria-labelledby': 'create-title' });
  show(main, h('h1', {}, 'Processing engine'), feedback, listSlot, formSlot);
  if (!ctx.db) {
    show(listSlot, h('p', {}, 'Create a database first (Explore or Write).'));
    return;
  }
  const db = ctx.db;
  const act = async (what, fn) => {
    try {
      await fn();
      show(feedback, notice(what));
      await refresh();
    } catch (error) {
      show(feedback, errorBox(message(error)));
    }
  };
  const actions = (r) => [
    r.disabled
      ? button('Enable', () => act(`${r.trigger_name} enabled.`, () => api('POST',
        '/api/v3/configure/processing_engine_trigger/enable',
        { params: { db, trigger_name: r.trigger_name } })),
      { class: 'small', 'aria-label': `Enable ${r.trigger_name}` })
      : button('Disable', () => act(`${r.trigger_name} disabled.`, () => api('POST',
        '/api/v3/configure/processing_engine_trigger/disable',
        { params: { db, trigger_name: r.trigger_name } })),
      { class: 'small', 'aria-label': `Disable ${r.trigger_name}` }),
    kindOf(r.trigger_specification) === 'schedule' && !r.disabled ? button('Run now', () => act(
      `${r.trigger_name} ran once.`, () => runNow(db, r)), { class: 'small',
      'aria-label': `Run ${r.trigger_name} now` }) : null,
    button('Delete', () => {
      if (!confirm(`Delete trigger ${r.trigger_name}?`)) return;
      act(`${r.trigger_name} deleted.`, () => api('DELETE',
        '/api/v3/configure/processing_engine_trigger',
        { params: { db, trigger_name: r.trigger_name, force: 'true' } }));
    }, { class: 'small danger', 'aria-label': `Delete ${r.trigger_name}` })];
  async function refresh() {
    let rows;
    try {
      rows = await triggers(db);
    } catch (error) {
      show(listSlot, errorBox(message(error)));
      return;
    }
    show(listSlot, rows.length ? simpleTable([
      { label: 'Trigger', render: (r) => h('a', { href: `#/engine/${encodeURIComponent(r.trigger_name)}` },
        r.trigger_name) },
      { label: 'Kind', render: (r) => kindOf(r.trigger_specification) },
      { key: 'trigger_specification', label: 'Spec' },
      { key: 'plugin_filename', label: 'Plugin' },
      { label: 'State', render: (r) => h('span', { class: `badge ${r.disabled ? 'off' : 'on'}` },
        r.disabled ? 'disabled' : (r.lagging ? 'lagging' : 'enabled')) },
      { label: 'Actions', class: 'actions', render: (r) => actions(r) },
      { key: 'runs', label: 'Runs', class: 'num' },
      { label: 'Errors', class: 'num', render: (r) => (r.errors ? h('span', { class: 'badge bad' },
        String(r.errors)) : String(r.errors ?? '')) },
      { label: 'Run mean / p99', class: 'nowrap',
        render: (r) => (r.runs ? `${ms(r.mean_duration_ms)} / ${ms(r.p99_duration_ms)}` : '') },
      { label: 'Activation p50 / p99', class: 'nowrap',
        render: (r) => (r.runs ? `${ms(r.p50_activation_ms)} / ${ms(r.p99_activation_ms)}` : '') },
      { label: 'Last run', class: 'nowrap', render: (r) => clock(r.last_run_time) },
      { label: 'Last error', class: 'text', render: (r) => r.last_error || '' },
    ], rows, `Triggers of ${db} (refreshed every ${REFRESH_MS / 1000} s)`)
      : h('p', {}, `No triggers in ${db} yet.`));
  }
  await refresh();
  // not while the keyboard is on a row's buttons: rebuilding the table would lose the focus
  every(REFRESH_MS, () => { if (!listSlot.contains(document.activeElement)) refresh(); }, ctx.signal);
  formSlot.append(await createForm(db, () => act('Trigger created.', async () => {})));
}

async function createForm(db, created) {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
  const kind = select([['every', 'Every (interval)'], ['cron', 'Cron schedule'],
    ['table', 'Writes to a table'], ['all_tables', 'Writes to any table'],
    ['request', 'HTTP request']], 'every');
  const spec = h('input', { type: 'text', value: '10s', autocomplete: 'off',
    'aria-describedby': 'spec-check' });
  const specCheck = h('small', { id: 'spec-check', 'aria-live': 'polite' });
  const validate = () => {
    spec.disabled = kind.value === 'all_tables';
    const problem = specProblem(kind.value, spec.value);
    specCheck.className = problem ? 'spec-bad' : 'spec-ok';
    specCheck.textContent = problem || `✓ ${fullSpec()}`;
    spec.setAttribute('aria-invalid', problem ? 'true' : 'false');
    return !problem;
  };
  const fullSpec = () => (kind.value === 'all_tables' ? 'all_tables' : `${kind.value}:${spec.value.trim()}`);
  kind.addEventListener('change', () => {
    spec.value = { every: '10s', cron: '0 * * * * *', table: '', request: 'hello', all_tables: '' }[kind.value];
    validate();
  });
  spec.addEventListener('input', validate);
  const plugin = h('input', { type: 'text', required: true, list: 'plugin-files', autocomplete: 'off',
    placeholder: 'my_plugin.py' });
  const plugins = h('datalist', { id: 'plugin-files' },
    (await knownPlugins(db).catch(() => [])).map((p) => h('option', { value: p })));
  const args = h('div', { class: 'args' });
  const addArg = (key = '', value = '') => {
    const k = h('input', { type: 'text', value: key, 'aria-label': 'Argument name', placeholder: 'name' });
    const v = h('input', { type: 'text', value, 'aria-label': 'Argument value', placeholder: 'value' });
    const row = h('div', { class: 'kv' }, k, v, button('Remove', () => row.remove(), { class: 'small' }));
    args.append(row);
  };
  const errorBehavior = select([['log', 'log and go on'], ['retry', 'retry, then log'],
    ['disable', 'disable the trigger']], 'log');
  const runAsync = h('input', { type: 'checkbox' });
  const disabled = h('input', { type: 'checkbox' });
  const result = h('div');
  const submit = async (event) => {
    event.preventDefault();
    if (!validate()) { spec.focus(); return; }
    const argumentPairs = [...args.querySelectorAll('.kv')].map((row) => {
      const [k, v] = row.querySelectorAll('input');
      return [k.value.trim(), v.value];
    }).filter(([k]) => k);
    try {
      await api('POST', '/api/v3/configure/processing_engine_trigger', { json: {
        db, trigger_name: name.value.trim(), plugin_filename: plugin.value.trim(),
        trigger_specification: fullSpec(),
        trigger_settings: { run_async: runAsync.checked, error_behavior: errorBehavior.value },
        trigger_arguments: argumentPairs.length ? Object.fromEntries(argumentPairs) : null,
        disabled: disabled.checked } });
      show(result, notice(`Trigger ${name.value.trim()} created.`));
      name.value = '';
      await created();
    } catch (error) {
      show(result, errorBox(message(error)));
    }
  };
  validate();
  return h('form', { class: 'card', onsubmit: submit },
    h('h2', { id: 'create-title' }, 'Create trigger'),
    h('div', { class: 'row' }, field('Name', name), field('Kind', kind),
      h('div', { class: 'field' }, h('label', { for: spec.id = 'trigger-spec' }, 'Spec'), spec, specCheck),
      field('Plugin file', plugin, 'a file in the plugin directory, or gh:path'), plugins),
    h('fieldset', {}, h('legend', {}, 'Arguments'), args,
      button('Add argument', () => addArg(), { class: 'small' })),
    h('div', { class: 'row' }, field('On error', errorBehavior),
      h('div', { class: 'field' }, h('label', {}, runAsync, ' Runs may overlap (async)')),
      h('div', { class: 'field' }, h('label', {}, disabled, ' Create disabled'))),
    h('button', { type: 'submit', class: 'primary' }, 'Create trigger'), result);
}

const UNITS = { ns: 1e-6, 'µs': 1e-3, us: 1e-3, ms: 1, s: 1000 };

export async function triggerPage(main, ctx) {
  const name = ctx.param;
  const db = ctx.db;
  const level = select([['', 'All levels'], ['INFO', 'INFO'], ['WARN', 'WARN'], ['ERROR', 'ERROR']], '',
    { 'aria-label': 'Log level' });
  const paused = h('input', { type: 'checkbox' });
  const info = h('div');
  const chartSlot = h('div');
  const logSlot = h('div', { class: 'logs', 'aria-live': 'off' });
  let chart = null;
  ctx.signal.addEventListener('abort', () => chart?.destroy?.());
  const argsSlot = h('div');
  show(main, h('p', {}, h('a', { href: '#/engine' }, '← All triggers')),
    h('h1', {}, `Trigger ${name}`), info,
    h('h2', {}, 'Run times'), chartSlot,
    h('h2', {}, 'Logs'),
    h('div', { class: 'toolbar' }, level, h('label', {}, paused, ' Pause live tail')), logSlot,
    argsSlot);
  level.addEventListener('change', () => logs());

  async function details() {
    const [defs, args, stats] = await Promise.all([
      sql(db, `SELECT * FROM system.processing_engine_triggers WHERE trigger_name = ${literal(name)}`),
      sql(db, 'SELECT argument_key, argument_value FROM system.processing_engine_trigger_arguments '
        + `WHERE trigger_name = ${literal(name)}`),
      sql(db, `SELECT * FROM system.processing_engine_trigger_stats WHERE trigger_name = ${literal(name)}`)
        .catch(() => []),
    ]);
    const d = defs[0];
    if (!d) { show(info, errorBox(`No trigger ${name} in ${db}.`)); return; }
    const s = stats[0] || {};
    show(info, h('dl', { class: 'stats' },
      [['Database', db], ['Spec', d.trigger_specification], ['Kind', kindOf(d.trigger_specification)],
        ['Plugin', d.plugin_filename], ['State', d.disabled ? 'disabled' : 'enabled'],
        ['On error', d.error_behavior], ['Async', String(d.run_async)],
        ['Runs', s.runs ?? 0], ['Errors', s.errors ?? 0], ['Mean run', ms(s.mean_duration_ms)],
        ['p99 run', ms(s.p99_duration_ms)], ['Last run', clock(s.last_run_time) || '—'],
        ['p50 / p99 activation', `${ms(s.p50_activation_ms)} / ${ms(s.p99_activation_ms)}`],
        ['Lagging', s.lagging ? 'yes' : 'no'], ['Skipped fires', s.skipped_fires ?? 0],
        ['Skipped flushes', s.skipped_flushes ?? 0], ['Redelivered', s.redelivered_flushes ?? 0],
        ['Worker restarts', s.worker_restarts ?? 0]]
        .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, String(v))))));
    show(argsSlot, h('h2', {}, 'Arguments'),
      args.length ? simpleTable([{ key: 'argument_key', label: 'Name' },
        { key: 'argument_value', label: 'Value' }], args) : h('p', {}, 'None.'));
  }

  async function logs() {
    if (paused.checked) return;
    const where = [`trigger_name = ${literal(name)}`];
    if (level.value) where.push(`log_level = ${literal(level.value)}`);
    let rows;
    try {
      rows = await sql(db, 'SELECT event_time, log_level, log_text FROM system.processing_engine_logs '
        + `WHERE ${where.join(' AND ')} ORDER BY event_time DESC LIMIT 200`);
    } catch (error) {
      show(logSlot, errorBox(message(error)));
      return;
    }
    const table = simpleTable([{ key: 'event_time', label: 'Time' }, { key: 'log_level', label: 'Level' },
      { key: 'log_text', label: 'Message', class: 'text' }], rows);
    for (const [i, tr] of [...table.querySelectorAll('tbody tr')].entries()) tr.className = `log-${rows[i].log_level}`;
    show(logSlot, rows.length ? table : h('p', {}, 'No log lines yet.'));
    const runs = rows.map((r) => {
      const m = /finished execution in ([\d.]+)\s*(ns|µs|us|ms|s)/.exec(r.log_text);
      return m ? { time: r.event_time, 'run time (ms)': Number(m[1]) * UNITS[m[2]] } : null;
    }).filter(Boolean).reverse();
    const data = chartData(runs);
    chart?.destroy?.();
    chart = data ? timeChart(data, { height: 150 }) : null;
    show(chartSlot, chart || h('p', {}, 'No runs logged yet.'));
  }

  await details();
  await logs();
  every(REFRESH_MS, () => { details(); logs(); }, ctx.signal);
}
