// Plugins: the plugin files triggers use, an editor saving through the plugin file API, a
// dry run (Test) with sample line protocol or a call time, and Run now for schedule triggers.
import { api, sql } from '../js/api.js';
import { button, errorBox, field, h, message, notice, select, show, simpleTable } from '../js/dom.js';
import { codeEditor } from '../js/editor.js';
import { kindOf, runNow } from './engine.js';

// The server has no API to read a plugin file back, so the console keeps a copy of what it
// saved (in this browser only) to reopen it.
const SAVED_KEY = 'timewell.plugins';

const TEMPLATES = {
  schedule: `def process_scheduled_call(influxdb3_local, call_time, args=None):
    """Runs on the trigger's schedule."""
    influxdb3_local.info("called at", call_time)
    line = LineBuilder("heartbeat").tag("source", "console").int64_field("beat", 1)
    influxdb3_local.write(line)
`,
  write: `def process_writes(influxdb3_local, table_batches, args=None):
    """Runs after each WAL flush with the rows written."""
    for batch in table_batches:
        influxdb3_local.info(batch["table_name"], "rows:", len(batch["rows"]))
`,
  request: `def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                    args=None):
    return {"hello": query_parameters.get("name", "world")}
`,
};

function saved() {
  try { return JSON.parse(localStorage.getItem(SAVED_KEY)) || {}; } catch { return {}; }
}

export async function knownPlugins(db) {
  const files = db ? await sql(db, 'SELECT DISTINCT file_name FROM system.plugin_files') : [];
  return [...new Set([...files.map((f) => f.file_name), ...Object.keys(saved())])].sort();
}

export async function pluginsPage(main, ctx) {
  const db = ctx.db;
  const feedback = h('div');
  const listSlot = h('section');
  const name = h('input', { type: 'text', required: true, value: 'my_plugin.py', autocomplete: 'off' });
  const template = select([['schedule', 'Schedule plugin'], ['write', 'Write (WAL) plugin'],
    ['request', 'Request plugin']], 'schedule', { 'aria-label': 'Template' });
  const editor = codeEditor({ label: 'Plugin code', language: 'python', rows: 16,
    value: TEMPLATES.schedule, onRun: () => save() });
  const open = (file) => {
    name.value = file;
    const copy = saved()[file];
    if (copy !== undefined) {
      editor.value = copy;
      show(feedback, notice(`Opened ${file} (the copy this browser saved).`, 'info'));
    } else {
      show(feedback, notice(`The server does not send plugin files back: ${file} is not in this `
        + "browser. Paste its code, or start from a template; Save replaces the server's file.", 'info'));
    }
    editor.focus();
  };
  async function save() {
    const plugin = name.value.trim();
    if (!plugin) { name.focus(); return; }
    try {
      const answer = await api('POST', '/api/v3/plugins/files', { json: { plugin_name: plugin,
        content: editor.value } });
      localStorage.setItem(SAVED_KEY, JSON.stringify({ ...saved(), [plugin]: editor.value }));
      show(feedback, notice(`Saved ${plugin} (${answer?.version || 'ok'}).`));
      await renderList();
    } catch (error) {
      show(feedback, errorBox(message(error)));
    }
  }

  async function renderList() {
    const [files, triggers] = db ? await Promise.all([
      sql(db, 'SELECT * FROM system.plugin_files ORDER BY file_name').catch(() => []),
      sql(db, 'SELECT * FROM system.processing_engine_triggers').catch(() => []),
    ]) : [[], []];
    const onServer = new Set(files.map((f) => f.file_name));
    const local = Object.keys(saved()).filter((f) => !onServer.has(f))
      .map((f) => ({ file_name: f, source: 'saved from this console', triggers: '' }));
    const schedules = triggers.filter((t) => kindOf(t.trigger_specification) === 'schedule');
    show(listSlot, h('h2', {}, 'Plugin files'),
      files.length + local.length ? simpleTable([
        { label: 'File', render: (f) => button(f.file_name, () => open(f.file_name), { class: 'small' }) },
        { key: 'source', label: 'Source' }, { key: 'version', label: 'Version' },
        { key: 'size_bytes', label: 'Bytes', class: 'num' }, { key: 'triggers', label: 'Triggers' }],
      [...files, ...local]) : h('p', {}, 'No plugin files used by triggers here yet.'),
      schedules.length ? h('div', { class: 'toolbar' }, 'Run now: ', schedules.map((t) => button(
        t.trigger_name, async () => {
          try {
            const result = await runNow(db, t);
            show(feedback, notice(`${t.trigger_name} ran once`), output(result));
          } catch (error) {
            show(feedback, errorBox(message(error)));
          }
        }, { class: 'small', 'aria-label': `Run ${t.trigger_name} now` }))) : null);
  }

  const mode = select([['wal', 'Write (sample line protocol)'], ['schedule', 'Schedule (a call time)']],
    'wal', { 'aria-label': 'Test kind' });
  const sample = h('textarea', { class: 'plain mono', rows: 4, 'aria-label': 'Sample line protocol',
    placeholder: 'home,room=kitchen temp=21.5' });
  const schedule = h('input', { type: 'text', placeholder: 'optional cron, e.g. 0 * * * * *',
    'aria-label': 'Schedule' });
  const args = h('input', { type: 'text', placeholder: 'key=value,key2=value2', 'aria-label': 'Arguments' });
  const testResult = h('div', { 'aria-live': 'polite' });
  const syncMode = () => {
    sample.hidden = mode.value !== 'wal';
    schedule.hidden = mode.value !== 'schedule';
  };
  mode.addEventListener('change', syncMode);
  syncMode();
  async function test() {
    if (!db) { show(testResult, errorBox('Pick a database first.')); return; }
    const input = Object.fromEntries(args.value.split(',').map((p) => p.split('='))
      .filter(([k]) => k && k.trim()).map(([k, ...v]) => [k.trim(), v.join('=')]));
    const json = { filename: name.value.trim(), database: db,
      input_arguments: Object.keys(input).length ? input : undefined };
    show(testResult, h('span', { class: 'spinner', role: 'status' }), ' Testing…');
    try {
      let result;
      if (mode.value === 'wal') {
        result = await api('POST', '/api/v3/plugin_test/wal', { json: { ...json, input_lp: sample.value } });
      } else {
        result = await api('POST', '/api/v3/plugin_test/schedule', { json: { ...json,
          schedule: schedule.value.trim() || undefined } });
      }
      show(testResult, output(result));
    } catch (error) {
      show(testResult, errorBox(message(error)));
    }
  }

  template.addEventListener('change', () => {
    if (confirm('Replace the editor\'s code with the template?')) editor.value = TEMPLATES[template.value];
  });
  show(main, h('h1', {}, 'Plugins'), feedback,
    h('section', { class: 'card', 'aria-labelledby': 'editor-title' },
      h('h2', { id: 'editor-title' }, 'Edit a plugin'),
      h('div', { class: 'row' }, field('File name', name, 'relative to the plugin directory'),
        h('div', { class: 'field' }, h('label', { for: template.id = 'template' }, 'Start from'), template)),
      editor.el,
      h('div', { class: 'toolbar' }, button('Save', save, { class: 'primary' }),
        h('span', { class: 'hint' }, 'Ctrl/⌘ + Enter saves; Save writes the file on the server (admin token)'))),
    h('section', { class: 'card', 'aria-labelledby': 'test-title' },
      h('h2', { id: 'test-title' }, 'Test (dry run: queries are real, writes are only shown)'),
      h('div', { class: 'row' }, mode, args), sample, schedule,
      h('div', { class: 'toolbar' }, button('Test', test)), testResult),
    listSlot);
  await renderList();
}

function output(result) {
  const writes = Object.entries(result.database_writes || {});
  return h('div', { class: 'dry-run' },
    result.trigger_time ? h('p', {}, `Call time: ${result.trigger_time}`) : null,
    (result.errors || []).map((e) => errorBox(e)),
    h('h3', {}, 'Log'), h('pre', { class: 'output' }, (result.log_lines || []).join('\n') || '(none)'),
    h('h3', {}, 'Would write'),
    h('pre', { class: 'output' }, writes.length ? writes.map(([db, lines]) =>
      `# ${db}\n${lines.join('\n')}`).join('\n') : '(nothing)'));
}
