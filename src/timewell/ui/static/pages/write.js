// Write: line protocol pasted or uploaded, a precision, the partial-write errors line by line.
import { api } from '../js/api.js';
import { errorBox, field, h, message, notice, select, show, simpleTable } from '../js/dom.js';
import { codeEditor } from '../js/editor.js';

export async function writePage(main, ctx) {
  const db = h('input', { type: 'text', value: ctx.db, required: true,
    list: 'write-databases', autocomplete: 'off' });
  const known = h('datalist', { id: 'write-databases' },
    ctx.databases.map((name) => h('option', { value: name })));
  const precision = select([['auto', 'auto (guess per line)'], ['s', 'seconds'],
    ['ms', 'milliseconds'], ['us', 'microseconds'], ['ns', 'nanoseconds']], 'auto');
  const partial = h('input', { type: 'checkbox', checked: true });
  const file = h('input', { type: 'file', accept: '.lp,.txt,text/plain' });
  const editor = codeEditor({ label: 'Line protocol', language: 'lp', rows: 10,
    value: '', onRun: () => write() });
  editor.input.placeholder = 'home,room=kitchen temp=21.5,hum=40i 1700000000';
  const result = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Write');

  async function write() {
    const body = file.files[0] || editor.value;
    if (!db.value.trim()) { show(result, errorBox('Name a database to write to.')); return; }
    if (!(body instanceof File) && !body.trim()) {
      show(result, errorBox('Paste some line protocol or choose a file.'));
      return;
    }
    submit.disabled = true;
    show(result, h('span', { class: 'spinner', role: 'status' }), ' Writing…');
    const started = performance.now();
    try {
      await api('POST', '/api/v3/write_lp', { params: { db: db.value.trim(),
        precision: precision.value, accept_partial: partial.checked ? 'true' : 'false' }, body });
      show(result, notice(`Written to ${db.value.trim()} in `
        + `${(performance.now() - started).toFixed(0)} ms.`));
    } catch (error) {
      const data = error.data?.data;
      const lines = Array.isArray(data) ? data : data ? [data] : [];
      show(result, errorBox(message(error)), lines.length ? simpleTable([
        { key: 'line_number', label: 'Line' },
        { key: 'error_message', label: 'Error', class: 'text' },
        { key: 'original_line', label: 'Line starts with' }], lines,
      `${lines.length} line${lines.length === 1 ? '' : 's'} rejected`
        + (partial.checked && Array.isArray(data) ? '; the other lines were written' : '')) : null);
    } finally {
      submit.disabled = false;
      await ctx.refreshDatabases().catch(() => {});
    }
  }

  show(main, h('h1', {}, 'Write'),
    h('form', { onsubmit: (e) => { e.preventDefault(); write(); } },
      h('div', { class: 'row' }, field('Write to database', db, 'created by its first write'), known,
        field('Precision', precision),
        h('div', { class: 'field' }, h('label', {}, partial, ' Write the good lines when some are bad'))),
      h('div', { class: 'field' }, h('span', { class: 'label', id: 'lp-label' }, 'Line protocol'),
        editor.el),
      field('…or upload a file', file, 'a file is sent instead of the text above'),
      h('div', { class: 'toolbar' }, submit, h('span', { class: 'hint' }, 'Ctrl/⌘ + Enter writes'))),
    result);
}
