// The console's one way to the server: every request signed with the signed-in access key (the explorer's
// signing, src/Flowline.Api/Explorer/sign.js), scoped to the account chosen in the header, and a refused
// key (revoked, unknown, clock) ends the sign-in with the server's reason.
import '../../Explorer/sign.js';

const STORE_KEY = 'flowline.console';

/** A refusal or failure, with the server's code and message (and the filter's column for a bad filter). */
export class ApiError extends Error {
  constructor(status, code, message, column, reason) {
    super(message);
    this.status = status;
    this.code = code;
    this.column = column;
    this.reason = reason;
  }
}

/** The signed-in key: id, secret, account, admin; the admin password and the chosen scope when an admin reads other accounts. */
export const session = {
  id: '', secret: '', account: '', admin: false, password: '', scope: '',
  onSignOut: null,
};

/** Where the sign-in is kept: this tab only, or this browser with "remember". */
let kept = window.sessionStorage;

/** Restores a sign-in kept by this tab (or remembered by this browser); false when there is none. */
export function restore() {
  for (const s of [window.sessionStorage, window.localStorage]) {
    const text = s.getItem(STORE_KEY);
    if (!text) continue;
    kept = s;
    try {
      const saved = JSON.parse(text);
      Object.assign(session, { id: saved.id, secret: saved.secret, account: saved.account, admin: !!saved.admin, password: saved.password || '', scope: saved.scope || '' });
      return !!(session.id && session.secret);
    } catch {
      s.removeItem(STORE_KEY);
    }
  }
  return false;
}

function keep() {
  const text = JSON.stringify({ id: session.id, secret: session.secret, account: session.account, admin: session.admin, password: session.password, scope: session.scope });
  kept.setItem(STORE_KEY, text);
}

/** Checks the key by reading its own account's keys, then keeps it (this tab only unless remember). */
export async function signIn(id, secret, password, remember) {
  Object.assign(session, { id: id.trim(), secret, password: password || '', scope: '', account: '', admin: false });
  let answer;
  try {
    answer = await call('GET', '/api/v1/keys', [], null, { noSignOut: true });
  } catch (e) {
    Object.assign(session, { id: '', secret: '', password: '' });
    throw e;
  }
  const mine = (answer.keys || []).find(k => k.id === session.id);
  if (!mine) throw new ApiError(0, 'UnknownKey', 'the server did not list this key among its account\'s keys');
  session.account = mine.account;
  session.admin = !!mine.admin;
  window.sessionStorage.removeItem(STORE_KEY);
  window.localStorage.removeItem(STORE_KEY);
  kept = remember ? window.localStorage : window.sessionStorage;
  keep();
}

export function signOut(reason) {
  window.sessionStorage.removeItem(STORE_KEY);
  window.localStorage.removeItem(STORE_KEY);
  Object.assign(session, { id: '', secret: '', account: '', admin: false, password: '', scope: '' });
  if (session.onSignOut) session.onSignOut(reason || '');
}

/** Chooses the account(s) an admin reads: '' (the key's own), an account id, or '*' for all. */
export function setScope(scope, password) {
  session.scope = scope;
  if (password !== undefined) session.password = password;
  keep();
}

/** The account parameter of reads that take one (/api/v1 and Contrail): none for the key's own account. */
export function scopeParams() {
  return session.scope && session.scope !== session.account ? [['account', session.scope]] : [];
}

/**
 * Sends a signed request. params: [[name, value], ...]; body: an object (sent as JSON) or null.
 * Answers the parsed JSON, or the Response itself with { raw: true }. Throws ApiError.
 */
export async function call(method, path, params, body, options) {
  const opts = options || {};
  const text = body == null ? '' : JSON.stringify(body);
  const signed = await window.flowlineSign.sign(session.id, session.secret, method, path, params || [], text);
  const headers = { Authorization: signed.authorization };
  if (text) headers['Content-Type'] = 'application/json';
  if (session.password && (params || []).some(([k]) => k === 'account')) headers['X-Flowline-Admin-Password'] = session.password;
  let response;
  try {
    response = await fetch(path + (signed.query ? '?' + signed.query : ''), { method, headers, body: text || undefined, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Unreachable', `the server did not answer (${e.message})`);
  }
  if (!response.ok) throw await refusal(response, opts);
  if (opts.raw) return response;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

async function refusal(response, opts) {
  let code = 'HttpError', message = `${response.status} ${response.statusText}`, column, reason;
  try {
    const doc = await response.json();
    const e = doc.error || doc.NeutronError || (doc.Response && doc.Response.Errors && doc.Response.Errors.Error) || doc;
    code = e.code || e.Code || code;
    message = e.message || e.Message || message;
    column = e.column;
    reason = e.reason;
  } catch { /* not JSON: the status line says it */ }
  const error = new ApiError(response.status, code, message, column, reason);
  // A key the server no longer takes (revoked, unknown, a clock too far off) ends the sign-in with the reason.
  if (response.status === 401 && !opts.noSignOut) signOut(message);
  return error;
}

/** Reads NDJSON lines into objects. */
export function ndjson(text) {
  return text.split('\n').filter(l => l.length > 0).map(l => JSON.parse(l));
}
