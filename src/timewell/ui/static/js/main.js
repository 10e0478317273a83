// The console's shell: login, navigation, the database picker, and the page router
// (`#/query`, `#/engine/<trigger>`, ...; the hash never holds a token).
import { api, databases, session } from './api.js';
import { button, errorBox, field, h, message, show } from './dom.js';
import { enginePage, triggerPage } from '../pages/engine.js';
import { explorePage } from '../pages/explore.js';
import { pluginsPage } from '../pages/plugins.js';
import { queryPage } from '../pages/query.js';
import { settingsPage } from '../pages/settings.js';
import { writePage } from '../pages/write.js';

const PAGES = [
  ['query', 'Query', queryPage],
  ['explore', 'Explore', explorePage],
  ['write', 'Write', writePage],
  ['engine', 'Processing engine', enginePage],
  ['plugins', 'Plugins', pluginsPage],
  ['settings', 'Settings', settingsPage],
];
const DB_KEY = 'timewell.db';
const app = document.getElementById('app');

const state = {
  databases: [],
  get db() { return localStorage.getItem(DB_KEY) || this.databases[0] || ''; },
  set db(name) {
    if (name) localStorage.setItem(DB_KEY, name);
    else localStorage.removeItem(DB_KEY);
  },
};
let pageAbort = null;

function login(reason) {
  if (pageAbort) pageAbort.abort();
  const input = h('input', { type: 'password', autocomplete: 'current-password', required: true,
    placeholder: 'apiv3_…', spellcheck: 'false' });
  const status = h('div');
  const submit = async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    show(status, h('span', { class: 'spinner', role: 'status' }, 'Checking…'));
    try {
      await api('GET', '/api/v3/configure/database', { params: { format: 'json' }, token });
      session.token = token;
      await start();
    } catch (error) {
      show(status, errorBox(error.status === 401 ? 'That token was refused. Check it and try '
        + 'again.' : `Could not sign in: ${message(error)}`));
      input.select();
    }
  };
  show(app, h('main', { class: 'login' }, h('form', { class: 'card', onsubmit: submit },
    h('h1', {}, h('img', { src: document.querySelector('link[rel=icon]').href, alt: '',
      width: 28, height: 28 }), ' timewell'),
    h('p', {}, 'Sign in with an API token (for example one from ',
      h('code', {}, 'timewell create token --admin'), '). It is kept in this tab only.'),
    reason ? errorBox(reason) : null,
    field('Token', input),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status)));
  input.focus();
}

function logout() {
  session.token = null;
  location.hash = '';
  login();
}

async function refreshDatabases() {
  state.databases = await databases();
  return state.databases;
}

function shell() {
  const nav = h('nav', { id: 'nav', 'aria-label': 'Pages' }, h('ul', {}, PAGES.map(([id, label]) =>
    h('li', {}, h('a', { href: `#/${id}`, 'data-page': id }, label)))));
  const toggle = h('button', { type: 'button', class: 'nav-toggle', 'aria-controls': 'nav',
    'aria-expanded': 'false', 'aria-label': 'Menu' }, '☰');
  toggle.addEventListener('click', () => {
    const open = document.body.classList.toggle('nav-open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  nav.addEventListener('click', (event) => {
    if (event.target.closest('a')) {
      document.body.classList.remove('nav-open');
      toggle.setAttribute('aria-expanded', 'false');
    }
  });
  const picker = h('select', { id: 'db-picker' });
  picker.addEventListener('change', () => { state.db = picker.value; route(); });
  const header = h('header', { class: 'top' }, toggle,
    h('a', { class: 'brand', href: '#/query' }, h('img', {
      src: document.querySelector('link[rel=icon]').href, alt: '', width: 22, height: 22 }),
    ' timewell'),
    h('div', { class: 'db' }, h('label', { for: 'db-picker' }, 'Database'), picker),
    session.authRequired ? button('Sign out', logout, { class: 'signout' }) : null);
  const main = h('main', { id: 'main', tabindex: '-1' });
  show(app, h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault();
    main.focus(); } }, 'Skip to content'), header, h('div', { class: 'layout' }, nav, main));
}

function fillPicker() {
  const picker = document.getElementById('db-picker');
  if (!picker) return;
  const current = state.db;
  const names = state.databases.includes(current) || !current
    ? state.databases : [current, ...state.databases];
  picker.replaceChildren(...(names.length ? names.map((n) => h('option', { value: n,
    selected: n === current }, n)) : [h('option', { value: '' }, '(no databases yet)')]));
}

const context = {
  get db() { return state.db; },
  set db(name) { state.db = name; fillPicker(); },
  get databases() { return state.databases; },
  async refreshDatabases() { await refreshDatabases(); fillPicker(); return state.databases; },
  go(hash) { location.hash = hash; },
};

async function route() {
  if (!document.getElementById('main')) return;
  if (pageAbort) pageAbort.abort();
  pageAbort = new AbortController();
  const [, id = 'query', ...rest] = (location.hash || '#/query').slice(1).split('/');
  const entry = PAGES.find(([name]) => name === id) || PAGES[0];
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.page === entry[0]) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  fillPicker();
  const main = document.getElementById('main');
  const render = entry[0] === 'engine' && rest.length ? triggerPage : entry[2];
  document.title = `${entry[1]} · timewell`;
  main.replaceChildren();
  try {
    await render(main, { ...context, signal: pageAbort.signal,
      param: rest.map(decodeURIComponent).join('/') });
  } catch (error) {
    if (error.name !== 'AbortError') show(main, errorBox(message(error)));
  }
}

async function start() {
  try {
    await refreshDatabases();
  } catch (error) {
    if (error.status === 401) return;
    throw error;
  }
  shell();
  await route();
}

session.onUnauthorized = () => login('Your token is no longer accepted; sign in again.');
window.addEventListener('hashchange', route);
if (session.authRequired && !session.token) login();
else start().catch((error) => show(app, errorBox(message(error))));
