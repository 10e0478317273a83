// The public HTTP API, with the session's token as a Bearer header. Nothing else talks to the
// server, and the token never goes into a URL.
const TOKEN_KEY = 'timewell.token';

export const session = {
  authRequired: document.querySelector('meta[name="timewell-auth"]')?.content !== 'off',
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  onUnauthorized: () => {},
};

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

export async function api(method, path, { params, json, body, signal, raw, token } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, v);
  }
  const headers = new Headers();
  const bearer = token ?? session.token;
  if (bearer) headers.set('Authorization', `Bearer ${bearer}`);
  if (json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(json);
  }
  const response = await fetch(url, { method, headers, body, signal, credentials: 'omit' });
  if (response.status === 401 && token === undefined && session.authRequired) {
    session.onUnauthorized();
  }
  if (!response.ok) {
    const text = await response.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* not JSON */ }
    const message = (data && (data.error || data.message)) || text
      || (response.status === 401 ? 'the token was refused' : '')
      || (response.status === 403 ? 'this token may not do that' : '')
      || `HTTP ${response.status}`;
    throw new ApiError(response.status, message, data);
  }
  if (raw) return response;
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

/** Rows of a SQL query (JSON format). */
export function sql(db, q, params, signal) {
  return api('POST', '/api/v3/query_sql', { json: { db, q, format: 'json', params }, signal });
}

export async function databases() {
  const rows = await api('GET', '/api/v3/configure/database', { params: { format: 'json' } });
  return (rows || []).map((r) => r['iox::database']).filter(Boolean).sort();
}

/** A SQL string literal. */
export function literal(text) {
  return `'${String(text).replaceAll("'", "''")}'`;
}

/** A SQL identifier. */
export function ident(text) {
  return `"${String(text).replaceAll('"', '""')}"`;
}
