// Settings: server information, tokens (create, shown once, delete), plugin packages.
import { api, session, sql } from '../js/api.js';
import { button, errorBox, field, h, message, notice, select, show, simpleTable } from '../js/dom.js';

const EXPIRY = [['', 'never'], ['3600', '1 hour'], ['86400', '1 day'], ['2592000', '30 days'],
  ['31536000', '1 year']];

export async function settingsPage(main, ctx) {
  const infoSlot = h('section');
  const tokenSlot = h('section', { 'aria-labelledby': 'tokens-title' });
  const packageSlot = h('section', { 'aria-labelledby': 'packages-title' });
  show(main, h('h1', {}, 'Settings'), infoSlot, tokenSlot, packageSlot);

  const info = await api('GET', '/api/v3/server').catch((error) => ({ error: message(error) }));
  const assets = new URL(document.querySelector('link[rel=icon]').href).pathname.split('/')[3];
  const store = info.object_store;
  show(infoSlot, h('h2', {}, 'Server'), info.error ? errorBox(info.error) : null,
    h('dl', { class: 'info', 'data-testid': 'server-info' },
      [['Server', location.origin], ['Version', info.version], ['Node', info.node_id],
        ['Started', info.started_at && `${info.started_at.replace('T', ' ')} (up ${uptime(info.uptime_s)})`],
        ['Object store', store && (store.location.startsWith(store.kind) ? store.location
          : `${store.kind}: ${store.location}`)],
        ['Plugin directory', info.plugin_dir ?? (info.error ? null : 'none (--plugin-dir)')],
        ['Package manager', info.package_manager],
        ['Authentication', session.authRequired ? 'tokens' : 'off (--without-auth)'],
        ['Databases', ctx.databases.length], ['Console files', assets]]
        .map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v ?? '—'))])));

  const tokenName = h('input', { type: 'text', required: true, autocomplete: 'off' });
  const expiry = select(EXPIRY, '');
  const created = h('div', { 'aria-live': 'polite' });
  const tokenList = h('div');
  async function listTokens() {
    try {
      const rows = await sql('_internal', 'SELECT name, created_at, expiry, permissions '
        + 'FROM system.tokens ORDER BY name');
      show(tokenList, simpleTable([{ key: 'name', label: 'Name' }, { key: 'created_at', label: 'Created' },
        { key: 'expiry', label: 'Expires' }, { key: 'permissions', label: 'Permissions' },
        { label: '', class: 'actions', render: (t) => (t.name === '_admin' ? '' : button('Delete', async () => {
          if (!confirm(`Delete token ${t.name}? It stops working at once.`)) return;
          try {
            await api('DELETE', '/api/v3/configure/token', { params: { token_name: t.name } });
            show(created, notice(`Token ${t.name} deleted.`));
          } catch (error) {
            show(created, errorBox(message(error)));
          }
          await listTokens();
        }, { class: 'small danger', 'aria-label': `Delete token ${t.name}` })) }], rows));
    } catch (error) {
      show(tokenList, errorBox(message(error)));
    }
  }
  const create = async (event) => {
    event.preventDefault();
    try {
      const json = { token_name: tokenName.value.trim() };
      if (expiry.value) json.expiry_secs = Number(expiry.value);
      const token = await api('POST', '/api/v3/configure/token/named_admin', { json });
      const copy = button('Copy', () => navigator.clipboard?.writeText(token.token), { class: 'small' });
      show(created, h('div', { class: 'notice ok', role: 'status' },
        h('p', {}, `Token ${token.name} created`, token.expiry ? `, expires ${token.expiry}` : '',
          '. It is shown only now: copy it and keep it safe.'),
        h('div', { class: 'secret', 'data-testid': 'new-token' }, token.token), copy));
      tokenName.value = '';
      await listTokens();
    } catch (error) {
      show(created, errorBox(message(error)));
    }
  };
  if (session.authRequired) {
    show(tokenSlot, h('h2', { id: 'tokens-title' }, 'Tokens'), tokenList,
      h('form', { class: 'card', onsubmit: create, 'aria-label': 'Create token' },
        h('div', { class: 'row' }, field('New token name', tokenName), field('Expires after', expiry),
          h('button', { type: 'submit', class: 'primary' }, 'Create token'))), created);
    await listTokens();
  } else {
    show(tokenSlot, h('h2', { id: 'tokens-title' }, 'Tokens'),
      h('p', {}, 'This server runs without authentication (--without-auth): there are no tokens.'));
  }

  const packages = h('input', { type: 'text', required: true, placeholder: 'requests pandas==2.2',
    autocomplete: 'off' });
  const installResult = h('div', { 'aria-live': 'polite' });
  const packageList = h('div');
  async function listPackages() {
    try {
      const answer = await api('GET', '/api/v3/configure/plugin_environment/packages');
      show(packageList, answer.packages.length
        ? simpleTable([{ key: 'name', label: 'Package' }, { key: 'version', label: 'Version' }],
          answer.packages, `Installed with ${answer.package_manager}`)
        : h('p', {}, `No packages installed yet (package manager: ${answer.package_manager}).`));
    } catch (error) {
      show(packageList, errorBox(message(error)));
    }
  }
  const install = async (event) => {
    event.preventDefault();
    const names = packages.value.split(/[\s,]+/).filter(Boolean);
    show(installResult, h('span', { class: 'spinner', role: 'status' }), ` Installing ${names.join(', ')}…`);
    try {
      const result = await api('POST', '/api/v3/configure/plugin_environment/install_packages',
        { json: { packages: names } });
      show(installResult, notice('Installed.'), h('pre', { class: 'output' }, JSON.stringify(result, null, 2)));
    } catch (error) {
      show(installResult, errorBox(message(error)));
    }
    await listPackages();
  };
  show(packageSlot, h('h2', { id: 'packages-title' }, 'Plugin packages'),
    h('p', { class: 'hint' }, 'Packages installed here are importable by every plugin; the server\'s own '
      + 'packages are not listed (plugins always get the server\'s version).'),
    packageList,
    h('form', { class: 'card', onsubmit: install, 'aria-label': 'Install packages' },
      h('div', { class: 'row' }, field('Packages', packages),
        h('button', { type: 'submit' }, 'Install'))), installResult);
  await listPackages();
}

/** Seconds as "3 d 4 h", "5 h 2 min", "4 min 10 s". */
function uptime(seconds) {
  const s = Math.floor(seconds || 0);
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor(s / 3600) % 24, 'h'],
    [Math.floor(s / 60) % 60, 'min'], [s % 60, 's']];
  const first = parts.findIndex(([n]) => n > 0);
  return first < 0 ? '0 s' : parts.slice(first, first + 2).map(([n, u]) => `${n} ${u}`).join(' ');
}
