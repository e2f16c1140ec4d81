// The console: sign-in, a header with the pages and (admins only) the account switch, and one page at a time.
import { session, restore, signIn, signOut, setScope } from './api.js';
import { h, field, status } from './dom.js';
import { live } from './pages/live.js';
import { geo } from './pages/geo.js';
import { search } from './pages/search.js';
import { sessions } from './pages/sessions.js';
import { exporters } from './pages/exporters.js';
import { attacks } from './pages/attacks.js';
import { taps } from './pages/taps.js';

const pages = [
  ['live', 'Live traffic', live],
  ['geo', 'Countries and networks', geo],
  ['search', 'Flow logs', search],
  ['sessions', 'Sessions by tags', sessions],
  ['exporters', 'Exporters', exporters],
  ['attacks', 'Attacks', attacks],
  ['taps', 'Taps', taps],
];

const root = document.getElementById('app');
let unmount = null;
let signOutReason = '';

session.onSignOut = reason => {
  signOutReason = reason;
  go('#/signin');
};

window.addEventListener('hashchange', render);
if (!restore()) signOutReason = '';
render();

/**
 * Shows the page of a hash. Setting a new hash renders through 'hashchange' alone: rendering here as well would
 * mount the page twice, and the first one's leaving would remove the live page's definition under the second.
 */
function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function route() {
  const m = /^#\/([a-z]+)/.exec(location.hash);
  return m ? m[1] : '';
}

function render() {
  if (unmount) { unmount(); unmount = null; }
  root.replaceChildren();
  if (!session.id) {
    if (route() !== 'signin') { history.replaceState(null, '', '#/signin'); }
    root.append(signInPage());
    document.title = 'Sign in · Flowline';
    return;
  }
  let name = route();
  let page = pages.find(p => p[0] === name);
  if (!page) {
    page = pages[0];
    history.replaceState(null, '', '#/' + page[0]);
  }
  const main = h('main', { id: 'main', tabindex: '-1' });
  root.append(header(page[0]), main);
  document.title = `${page[1]} · Flowline`;
  unmount = page[2](main) || null;
}

function header(current) {
  const nav = h('nav', { 'aria-label': 'Pages' }, h('ul', {}, pages.map(([id, title]) =>
    h('li', {}, h('a', { href: '#/' + id, 'aria-current': id === current ? 'page' : null }, title)))));
  const who = h('span', { class: 'who' }, `${session.account} · ${session.id}${session.admin ? ' · admin' : ''}`);
  const out = h('button', { type: 'button', onclick: () => signOut('') }, 'Sign out');
  return h('header', { class: 'top' }, h('a', { class: 'skip', href: '#main', onclick: e => { e.preventDefault(); document.getElementById('main').focus(); } }, 'Skip to the page'),
    h('strong', { class: 'brand' }, 'Flowline'), nav, session.admin ? accountSwitch() : null, who, out);
}

/** Admins read another account, or all, with the admin password (every such read is audited by the server). */
function accountSwitch() {
  const scope = h('input', { type: 'text', value: session.scope || '', placeholder: session.account, list: 'scopes', size: 16, spellcheck: 'false' });
  const list = h('datalist', { id: 'scopes' }, h('option', { value: '*' }, 'all accounts'), h('option', { value: session.account }, 'this key\'s account'));
  const password = h('input', { type: 'password', value: session.password, autocomplete: 'current-password', size: 12 });
  const apply = h('button', { type: 'submit' }, 'Read');
  const form = h('form', { class: 'scope', 'aria-label': 'Account switch', onsubmit: e => {
    e.preventDefault();
    setScope(scope.value.trim() === session.account ? '' : scope.value.trim(), password.value);
    render();
  } }, field('Account (* for all)', scope), list, field('Admin password', password), apply);
  return form;
}

function signInPage() {
  const id = h('input', { type: 'text', autocomplete: 'username', required: true, spellcheck: 'false', placeholder: 'FLK…' });
  const secret = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const password = h('input', { type: 'password', autocomplete: 'off' });
  const remember = h('input', { type: 'checkbox' });
  const state = status();
  if (signOutReason) state.show(`Signed out: ${signOutReason}`, true);
  // WebCrypto, which signs the requests, exists only in a secure context.
  const insecure = !window.isSecureContext || !(window.crypto && window.crypto.subtle);
  if (insecure) state.show(`This page is not a secure context, so it cannot sign requests: open it over HTTPS (serve's tls_certificate) or on localhost, e.g. through ssh -L 8008:localhost:${location.port || '8008'}.`, true);
  const form = h('form', { class: 'signin', 'aria-label': 'Sign in', onsubmit: async e => {
    e.preventDefault();
    state.show('Checking the key…');
    try {
      await signIn(id.value, secret.value, password.value, remember.checked);
      signOutReason = '';
      go('#/live');
    } catch (err) {
      state.show(err.message, true);
    }
  } },
  h('h1', {}, 'Flowline'),
  h('p', {}, 'Sign in with an access key (flowline keys create). Requests are signed in this browser; the secret is never sent.'),
  field('Access key id', id), field('Secret', secret),
  field('Admin password (optional)', password, 'Admins only: to read other accounts or all.'),
  h('div', { class: 'field inline' }, remember, h('label', { for: remember.id = 'remember' }, 'Remember the key in this browser')),
  h('button', { type: 'submit', disabled: insecure }, 'Sign in'), state);
  return form;
}
