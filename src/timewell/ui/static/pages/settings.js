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

  const ping = await api('GET', '/ping').catch((error) => ({ error: message(error) }));
  const assets = new URL(document.querySelector('link[rel=icon]').href).pathname.split('/')[3];
  show(infoSlot, h('h2', {}, 'Server'), h('dl', { class: 'info' },
    [['Server', location.origin], ['Version', ping.version ?? ping.error], ['Build', ping.revision],
      ['Process', ping.process_id], ['Authentication', session.authRequired ? 'tokens' : 'off (--without-auth)'],
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
  };
  show(packageSlot, h('h2', { id: 'packages-title' }, 'Plugin packages'),
    h('p', { class: 'hint' }, 'Packages installed here are importable by every plugin. The server has no API '
      + 'listing them; installing one again reports what is there.'),
    h('form', { class: 'card', onsubmit: install, 'aria-label': 'Install packages' },
      h('div', { class: 'row' }, field('Packages', packages),
        h('button', { type: 'submit' }, 'Install'))), installResult);
}
