// Plugins: the files of the plugin directory and the repository (gh:) plugins triggers use, an
// editor reading and saving through the plugin file API, a dry run (Test) with sample line
// protocol or a call time, and Run now for schedule triggers.
import { api, sql } from '../js/api.js';
import { button, errorBox, field, h, message, notice, select, show, simpleTable } from '../js/dom.js';
import { codeEditor } from '../js/editor.js';
import { kindOf, runNow } from './engine.js';

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

const FILES = '/api/v3/plugins/files';

/** The plugin directory's files (GET /api/v3/plugins/files); none when it cannot be listed. */
function pluginDirectory() {
  return api('GET', FILES).catch((error) => ({ files: [], error: message(error) }));
}

/** What a trigger can run: the .py files and package directories of the plugin directory,
 * and the plugins triggers of `db` use (gh: ones included). */
export async function knownPlugins(db) {
  const [listing, used] = await Promise.all([pluginDirectory(), db
    ? sql(db, 'SELECT DISTINCT file_name FROM system.plugin_files').catch(() => []) : []]);
  const names = listing.files.map((f) => f.plugin_name).filter((n) => n.endsWith('.py'))
    .map((n) => n.replace(/\/__init__\.py$/, ''));
  return [...new Set([...names, ...used.map((f) => f.file_name)])].sort();
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
  const open = async (file) => {
    try {
      const answer = await api('GET', FILES, { params: { plugin_name: file } });
      name.value = file;
      editor.value = answer.content;
      show(feedback, notice(`Opened ${file} (version ${answer.version}, ${answer.size_bytes} bytes, `
        + `modified ${answer.modified}).`, 'info'));
      editor.focus();
    } catch (error) {
      show(feedback, errorBox(message(error)));
    }
  };
  async function save() {
    const plugin = name.value.trim();
    if (!plugin) { name.focus(); return; }
    try {
      const answer = await api('POST', '/api/v3/plugins/files', { json: { plugin_name: plugin,
        content: editor.value } });
      show(feedback, notice(`Saved ${plugin} (${answer?.version || 'ok'}).`));
      await renderList();
    } catch (error) {
      show(feedback, errorBox(message(error)));
    }
  }

  async function renderList() {
    const [listing, used, triggers] = await Promise.all([pluginDirectory(), db
      ? sql(db, 'SELECT * FROM system.plugin_files ORDER BY file_name').catch(() => []) : [],
    db ? sql(db, 'SELECT * FROM system.processing_engine_triggers').catch(() => []) : []]);
    // a package plugin is named by its directory, with or without a trailing /
    const usedBy = new Map(used.map((f) => [f.file_name.replace(/\/$/, ''), f]));
    const files = listing.files.map((f) => {
      const user = usedBy.get(f.plugin_name) || usedBy.get(f.plugin_name.replace(/\/__init__\.py$/, ''));
      return { ...f, triggers: user?.triggers || '' };
    });
    // one row per trigger in system.plugin_files: one per plugin and version here
    const repository = [...new Map(used.filter((f) => f.file_name.startsWith('gh:'))
      .map((f) => [`${f.file_name} ${f.version}`, f])).values()];
    const schedules = triggers.filter((t) => kindOf(t.trigger_specification) === 'schedule' && !t.disabled);
    show(listSlot, h('h2', {}, 'Plugin files'),
      listing.error ? errorBox(listing.error) : null,
      listing.plugin_dir ? h('p', { class: 'hint' }, `In ${listing.plugin_dir}`,
        listing.truncated ? ' (only the first files are listed)' : '') : null,
      listing.plugin_dir === null ? h('p', {}, 'The server has no plugin directory (start it with '
        + '--plugin-dir): Save and Test need one.') : null,
      files.length ? simpleTable([
        { label: 'File', render: (f) => button(f.plugin_name, () => open(f.plugin_name),
          { class: 'small', 'aria-label': `Open ${f.plugin_name}` }) },
        { key: 'size_bytes', label: 'Bytes', class: 'num' },
        { label: 'Modified', render: (f) => f.modified.replace('T', ' ').slice(0, 19) },
        { key: 'triggers', label: 'Triggers' }], files)
        : (listing.plugin_dir ? h('p', {}, 'The plugin directory is empty.') : null),
      repository.length ? [h('h2', {}, 'Repository plugins'), simpleTable([
        { key: 'file_name', label: 'Plugin' }, { key: 'source', label: 'Source' },
        { key: 'version', label: 'Version' }, { key: 'size_bytes', label: 'Bytes', class: 'num' },
        { key: 'triggers', label: 'Triggers' }], repository)] : null,
      schedules.length ? h('div', { class: 'toolbar' }, 'Run now: ', schedules.map((t) => button(
        t.trigger_name, async () => {
          try {
            const result = await runNow(db, t);
            show(feedback, h('div', { class: 'notice ok', role: 'status' },
              `${t.trigger_name} ran once (call time ${result.call_time}); its log is on `,
              h('a', { href: `#/engine/${encodeURIComponent(t.trigger_name)}` }, 'its page'), '.'));
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
