// A light code editor: a textarea over a highlighted copy of its text. Typing goes to the
// textarea (so undo, selection, IME and screen readers work as usual); the copy behind it is
// rebuilt from tokens as text spans. Tab indents and Shift+Tab outdents; Esc then Tab (or
// Shift+Tab) leaves the editor, as in CodeMirror.
import { h } from './dom.js';

const SQL_WORDS = new Set(`select from where group by order limit offset having as and or not
in is null like between case when then else end join left right inner outer full cross on
using distinct union all insert into values create drop table show tables columns asc desc
with over partition interval true false explain analyze database databases measurements
measurement tag tags field keys series fill time now cast`.split(/\s+/));
const PY_WORDS = new Set(`def return if elif else for while in not and or is None True False
import from as class try except finally raise with lambda yield pass break continue global
nonlocal assert del async await`.split(/\s+/));

const SQL_RE = /(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\$[A-Za-z_]\w*)|(\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zµ]*\b)|([A-Za-z_]\w*)/g;
const PY_RE = /(#[^\n]*)|("""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)|(@\w+)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_]\w*)/g;

export function highlight(text, language) {
  const words = language === 'python' ? PY_WORDS : SQL_WORDS;
  const re = language === 'python' ? PY_RE : SQL_RE;
  if (language === 'lp') return [text];
  const out = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === '') { re.lastIndex += 1; continue; }
    if (m.index > last) out.push(text.slice(last, m.index));
    let kind = null;
    if (language === 'python') {
      if (m[1]) kind = 'com';
      else if (m[2]) kind = 'str';
      else if (m[3]) kind = 'param';
      else if (m[4]) kind = 'num';
      else if (m[5] && words.has(m[5])) kind = 'kw';
    } else if (m[1]) kind = 'com';
    else if (m[2]) kind = 'str';
    else if (m[3]) kind = 'ident';
    else if (m[4]) kind = 'param';
    else if (m[5]) kind = 'num';
    else if (m[6] && words.has(m[6].toLowerCase())) kind = 'kw';
    out.push(kind ? h('span', { class: `tok-${kind}` }, m[0]) : m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

let editors = 0;

/** Replace the text from `from` to `to` as typing would (so Ctrl+Z undoes it). */
function replaceText(input, from, to, text) {
  input.setSelectionRange(from, to);
  if (!document.execCommand?.('insertText', false, text)) {
    input.setRangeText(text, from, to, 'end');
    input.dispatchEvent(new Event('input'));
  }
}

/** Tab: spaces at the cursor, or every selected line indented; Shift+Tab: outdented. */
function indent(input, unit, outdent) {
  const { value, selectionStart: start, selectionEnd: end } = input;
  if (!outdent && !value.slice(start, end).includes('\n')) {
    replaceText(input, start, end, unit);
    return;
  }
  const from = value.lastIndexOf('\n', start - 1) + 1;
  const lines = value.slice(from, end).split('\n');
  const changed = lines.map((line) => (outdent
    ? line.replace(new RegExp(`^ {1,${unit.length}}`), '') : unit + line)).join('\n');
  if (changed === lines.join('\n')) return;
  replaceText(input, from, end, changed);
  input.setSelectionRange(from, from + changed.length);
}

export function codeEditor({ label, value = '', language = 'sql', rows = 8, onRun, onInput }) {
  let lang = language;
  const copy = h('pre', { class: 'editor-copy', 'aria-hidden': 'true' });
  const hintId = `editor-keys-${++editors}`;
  const hint = h('p', { class: 'editor-keys', id: hintId },
    'Tab indents; press Esc, then Tab, to move on.');
  const input = h('textarea', {
    class: 'editor-input', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off',
    'aria-label': label, rows, 'aria-describedby': hintId,
  });
  let leaving = false; // Esc was pressed: the next Tab moves the focus on
  input.value = value;
  const render = () => {
    copy.replaceChildren(...highlight(input.value, lang), '\n');
    // grown to fit, the textarea never shows a scroll bar, which would wrap its lines
    // narrower than the copy's
    if (input.isConnected) {
      input.style.height = 'auto';
      input.style.height = `${input.scrollHeight + 2}px`;
    }
    copy.scrollTop = input.scrollTop;
    copy.scrollLeft = input.scrollLeft;
  };
  input.addEventListener('input', () => { render(); onInput?.(input.value); });
  input.addEventListener('scroll', () => {
    copy.scrollTop = input.scrollTop;
    copy.scrollLeft = input.scrollLeft;
  });
  input.addEventListener('keydown', (event) => {
    const wasLeaving = leaving;
    leaving = event.key === 'Escape';
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      onRun?.();
    } else if (event.key === 'Tab' && !wasLeaving && !event.ctrlKey && !event.metaKey
               && !event.altKey) {
      event.preventDefault();
      indent(input, lang === 'python' ? '    ' : '  ', event.shiftKey);
    }
  });
  input.addEventListener('blur', () => { leaving = false; });
  render();
  requestAnimationFrame(render);
  return {
    el: h('div', { class: 'editor-wrap' }, h('div', { class: 'editor' }, copy, input), hint),
    input,
    get value() { return input.value; },
    set value(text) { input.value = text; render(); onInput?.(text); },
    set language(name) { lang = name; render(); },
    focus() { input.focus(); },
  };
}
