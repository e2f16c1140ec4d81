// Live traffic: the top flows of the chosen key every second over the last five minutes, from the account's own
// real-time flow definitions (/api/v1/realtime; an admin reading all accounts uses the operators' sFlow-RT face).
import { call, session } from '../api.js';
import { h, field, select, status, si } from '../dom.js';
import { timeChart } from '../chart.js';

const KEYS = [
  ['ipsource,ipdestination', 'Address pair'],
  ['ipprotocol', 'Protocol'],
  ['or:tcpdestinationport:udpdestinationport', 'Destination port'],
  ['or:tcpsourceport:udpsourceport', 'Source port'],
  ['country:ipsource', 'Source country'],
  ['country:ipdestination', 'Destination country'],
  ['asn:ipsource', 'Source AS'],
  ['asn:ipdestination', 'Destination AS'],
  ['sourcevn,destvn', 'Networks (source, destination)'],
  ['app,tier', 'Tags (app, tier)'],
  ['site,deployment', 'Tags (site, deployment)'],
  ['action', 'Action'],
];
const VALUES = [['bytes', 'bytes/s'], ['frames', 'packets/s'], ['flows', 'flows/s']];
const WINDOW = 300; // seconds of history
const TOP = 10; // flows shown

export function live(main) {
  const allAccounts = session.admin && session.scope === '*';
  const keyChoices = allAccounts ? KEYS.concat([['account', 'Account']]) : KEYS;
  const saved = JSON.parse(window.sessionStorage.getItem('flowline.live') || '{}');
  const keys = select(keyChoices, keyChoices.some(k => k[0] === saved.keys) ? saved.keys : KEYS[0][0]);
  const value = select(VALUES, saved.value || 'bytes');
  const pause = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Pause');
  const state = status();
  const chartBox = h('div', { class: 'chart' });
  const now = h('div', { class: 'now' });
  const updated = h('p', { class: 'muted', 'aria-live': 'off' });
  main.append(h('h1', {}, 'Live traffic'),
    h('form', { class: 'controls', 'aria-label': 'Live traffic settings', onsubmit: e => e.preventDefault() },
      field('Stack by', keys), field('Value', value), pause),
    state, chartBox, updated, now);

  const makeChart = () => timeChart(chartBox, { stacked: true, unit: VALUES.find(v => v[0] === value.value)[1], label: 'Top flows over the last 5 minutes' });
  let chart = makeChart();
  let times = [];
  let series = new Map(); // key → values aligned with times
  let name = '';
  let path = ''; // where the definition was put: the face is chosen then, not when it is removed
  let timer = null;
  let paused = false;
  let busy = false;
  let gone = false;
  let generation = 0; // bumped when the key or value changes: an answer for the old definition is dropped

  // The definition is the page's: removed when the page leaves it or asks for another (an account holds at most 32;
  // another tab showing the same one makes it again on its next second). A removal skipped because the page is
  // shown again meanwhile under the same name (see queued below) leaves the definition to that showing.
  function forget() {
    if (!name) return;
    const old = name, where = path;
    release(old);
    if (!session.id) return; // signed out: nothing to sign with (the server keeps it; the next sign-in reuses it)
    queued(() => showings.get(old) ? null : call('DELETE', where, [], null, { noSignOut: true })).catch(() => {});
  }

  async function define() {
    window.sessionStorage.setItem('flowline.live', JSON.stringify({ keys: keys.value, value: value.value }));
    name = 'console-' + hash(keys.value + '|' + value.value + '|' + (allAccounts ? '*' : session.scope));
    use(name);
    const definition = { keys: keys.value, value: value.value };
    if (session.admin && session.scope && session.scope !== '*' && session.scope !== session.account) definition.filter = `account=${session.scope}`;
    path = useOperatorsFace() ? `/flow/${name}/json` : `/api/v1/realtime/flows/${name}`;
    // The chart is kept: made again after a restart or another tab's leaving, the definition counts the same flows
    // (another key or value empties the chart in restart()).
    const where = path;
    await queued(() => call('PUT', where, [], definition));
  }

  // The tenant API counts the key's own account only; reading all (or another) account needs the operators' face.
  const useOperatorsFace = () => session.admin && !!session.scope && session.scope !== session.account;

  async function tick() {
    if (busy || paused || gone) return;
    busy = true;
    const mine = generation;
    try {
      if (!name) await define();
      const params = [['maxFlows', String(TOP)]];
      const flows = useOperatorsFace()
        ? await call('GET', `/activeflows/ALL/${name}/json`, params)
        : await call('GET', `/api/v1/realtime/activeflows/${name}`, params);
      if (gone || mine !== generation) return;
      record(flows);
      state.show(flows.length ? '' : 'No traffic of this account in the last seconds (the chart fills as flows arrive).');
    } catch (e) {
      if (e.status === 404 && name) { // the definition was removed (a restart without it): made again next second
        release(name);
        name = '';
      }
      state.show(e.message, true);
    } finally {
      busy = false;
    }
  }

  function record(flows) {
    const t = Math.floor(Date.now() / 1000);
    if (times.length && times[times.length - 1] === t) return;
    times.push(t);
    for (const v of series.values()) v.push(null);
    for (const f of flows) {
      let v = series.get(f.key);
      if (!v) {
        v = new Array(times.length).fill(null);
        series.set(f.key, v);
      }
      v[times.length - 1] = f.value;
    }
    // Keep five minutes; forget flows with no value left in the window.
    while (times.length > WINDOW) {
      times.shift();
      for (const v of series.values()) v.shift();
    }
    for (const [k, v] of series) if (v.every(x => x == null)) series.delete(k);
    // The chart stacks the flows largest first (by their peak in the window), at most 16.
    const ranked = [...series.entries()].map(([k, v]) => [k, v, Math.max(...v.map(x => x || 0))]).sort((a, b) => b[2] - a[2]).slice(0, 16);
    chart.update(times.slice(), ranked.map(r => r[0]), ranked.map(r => r[1].slice()));
    const unit = VALUES.find(x => x[0] === value.value)[1];
    now.replaceChildren(h('table', { 'aria-label': 'Top flows now' },
      h('caption', {}, `Top flows now (${unit})`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, KEYS.concat([['account', 'Account']]).find(k => k[0] === keys.value)[1]), h('th', { scope: 'col', class: 'num' }, unit))),
      h('tbody', {}, flows.map(f => h('tr', {}, h('td', {}, f.key), h('td', { class: 'num', 'data-value': String(f.value) }, si(f.value)))))));
    updated.textContent = `Updated ${new Date(t * 1000).toISOString().slice(11, 19)} UTC · ${times.length} s shown`;
    updated.dataset.ticks = String((Number(updated.dataset.ticks) || 0) + 1);
  }

  function restart() {
    generation++;
    forget();
    name = '';
    times = [];
    series = new Map();
    chart.update([], [], []);
    tick();
  }

  keys.addEventListener('change', restart);
  value.addEventListener('change', () => {
    chart.destroy();
    chart = makeChart();
    restart();
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    state.show(paused ? 'Paused: the chart holds still; hover it to read values.' : '');
  });
  timer = setInterval(tick, 1000);
  tick();

  function stop() {
    gone = true;
    clearInterval(timer);
  }
  return () => { stop(); forget(); chart.destroy(); };
}

// Every PUT and DELETE of a definition from this tab, one after another: the page shown again (signed in, back
// from another page, the account switch) puts the definition its last showing is removing, under the same name,
// and sent side by side the removal could reach the server last. A removal whose name is shown again by the time
// its turn comes is skipped.
const showings = new Map(); // definition name → showings of the page using it now
let calls = Promise.resolve();
function queued(request) {
  const done = calls.then(request);
  calls = done.catch(() => {});
  return done;
}
function use(name) { showings.set(name, (showings.get(name) || 0) + 1); }
function release(name) {
  const n = (showings.get(name) || 0) - 1;
  if (n > 0) showings.set(name, n); else showings.delete(name);
}

/** A short name for a definition from what defines it (the server keeps up to 32 per account). */
function hash(text) {
  let h1 = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h1 = Math.imul(h1 ^ text.charCodeAt(i), 16777619) >>> 0;
  return h1.toString(36);
}
