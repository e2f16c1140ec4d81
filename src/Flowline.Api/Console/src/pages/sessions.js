// Sessions by tags (seed 001): the client-tags × server-tags matrix with bytes and sessions from the stored
// sessions (the Contrail analytics query over SessionSeriesTable), a cell's sessions and their rules on a click,
// and EndpointSecurityStats: sessions and bytes per security rule and remote tags.
import { call, scopeParams } from '../api.js';
import { h, field, select, status, table, count, si } from '../dom.js';
import { rangePicker } from './range.js';

const TAGS = [['application', 'app'], ['tier', 'tier'], ['site', 'site'], ['deployment', 'deployment']];
const BYTES = ['SUM(forward_sampled_bytes)', 'SUM(reverse_sampled_bytes)'];
const SESSIONS = 'COUNT_DISTINCT(forward_flow_uuid)';

export function sessions(main) {
  const range = rangePicker('1h');
  const tag = select(TAGS.map(([c, n]) => [c, n]), 'application');
  const measure = select([['bytes', 'bytes'], ['sessions', 'sessions']], 'bytes');
  const state = status();
  const matrix = h('div', { class: 'matrix-box' });
  const detail = h('div', { class: 'detail' });
  const security = h('div', {});
  main.append(h('h1', {}, 'Sessions by tags'),
    h('form', { class: 'controls', 'aria-label': 'Sessions settings', onsubmit: e => { e.preventDefault(); load(); } },
      range.el, field('Tag', tag), field('Cells show', measure), h('button', { type: 'submit' }, 'Show')),
    state, matrix, detail, h('h2', {}, 'Endpoint security stats'), security);

  const window_ = () => {
    const r = range.value();
    return { start_time: r.from.getTime() * 1000, end_time: r.to.getTime() * 1000 };
  };
  const query = body => call('POST', '/analytics/query', scopeParams(), body).then(a => a.value);

  let asked = 0; // the latest load or drill: an older one's late answer is dropped

  async function load() {
    const mine = ++asked;
    const r = range.value();
    if (!r.from || !r.to) { state.show('The range needs a start and an end (UTC).', true); return; }
    state.show('Loading…');
    detail.replaceChildren();
    try {
      const local = tag.value, remote = 'remote_' + tag.value;
      const rows = await query({ table: 'SessionSeriesTable', session_type: 'client', ...window_(), select_fields: [local, remote, ...BYTES, SESSIONS] });
      if (mine !== asked) return;
      matrix.replaceChildren(grid(rows, local, remote));
      const stats = await query({
        table: 'SessionSeriesTable', session_type: 'server', ...window_(),
        select_fields: ['security_policy_rule', 'remote_application', 'remote_tier', 'remote_site', 'remote_deployment', ...BYTES, SESSIONS],
      });
      if (mine !== asked) return;
      stats.sort((a, b) => b[SESSIONS] - a[SESSIONS]);
      security.replaceChildren(table('Sessions served, per security rule and the clients\' tags',
        ['rule', 'client app', 'client tier', 'client site', 'client deployment', { name: 'sessions', num: true }, { name: 'bytes in', num: true }, { name: 'bytes out', num: true }],
        stats.map(s => [s.security_policy_rule || '(none)', s.remote_application, s.remote_tier, s.remote_site, s.remote_deployment,
          count(s[SESSIONS]), si(s[BYTES[0]]), si(s[BYTES[1]])]), { 'aria-label': 'Endpoint security stats' }));
      state.show(`${count(rows.reduce((n, x) => n + x[SESSIONS], 0))} sessions by their clients' tags`);
    } catch (e) {
      if (mine === asked) state.show(e.message, true);
    }
  }

  /** Rows: client tag values; columns: server tag values; each cell bytes (both directions) or sessions. */
  function grid(rows, local, remote) {
    const value = x => !x ? 0 : measure.value === 'bytes' ? x[BYTES[0]] + x[BYTES[1]] : x[SESSIONS];
    // Largest first, by their totals.
    const ranked = k => {
      const totals = new Map();
      for (const x of rows) totals.set(x[k], (totals.get(x[k]) || 0) + value(x));
      return [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || String(a).localeCompare(String(b), 'en', { numeric: true }));
    };
    const clients = ranked(local);
    const servers = ranked(remote);
    const cell = new Map(rows.map(x => [x[local] + '\u0001' + x[remote], x]));
    const max = Math.max(1, ...rows.map(value));
    const label = v => v === '' ? '(untagged)' : v;
    const totals = servers.map(s => clients.reduce((n, c) => n + value(cell.get(c + '\u0001' + s)), 0));
    return h('table', { class: 'matrix', 'aria-label': `Sessions: client ${tag.selectedOptions[0].text} by server ${tag.selectedOptions[0].text}` },
      h('caption', {}, `${measure.value === 'bytes' ? 'Bytes (both directions)' : 'Sessions'}: clients' ${tag.selectedOptions[0].text} (rows) × servers' (columns)`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'client \\ server'), servers.map(s => h('th', { scope: 'col' }, label(s))), h('th', { scope: 'col', class: 'num' }, 'total'))),
      h('tbody', {}, clients.map(c => {
        const cells = servers.map(s => cell.get(c + '\u0001' + s));
        return h('tr', {}, h('th', { scope: 'row' }, label(c)), cells.map((x, i) => {
          const v = value(x);
          if (!x) return h('td', { class: 'num empty' }, '');
          const b = h('button', { type: 'button', class: 'cell', 'data-value': String(v), title: `${count(x[SESSIONS])} sessions, ${count(x[BYTES[0]] + x[BYTES[1]])} bytes`,
            onclick: () => drill(local, remote, c, servers[i]) }, measure.value === 'bytes' ? si(v) : count(v));
          b.style.setProperty('--heat', (v / max).toFixed(3));
          return h('td', { class: 'num' }, b);
        }), h('td', { class: 'num' }, measure.value === 'bytes' ? si(cells.reduce((n, x) => n + value(x), 0)) : count(cells.reduce((n, x) => n + value(x), 0))));
      })),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'total'), totals.map(t => h('td', { class: 'num' }, measure.value === 'bytes' ? si(t) : count(t))), h('td', {}))));
  }

  async function drill(local, remote, client, server) {
    const mine = ++asked;
    detail.replaceChildren(h('p', {}, 'Loading the sessions…'));
    try {
      const rows = await query({
        table: 'SessionRecordTable', session_type: 'client', ...window_(),
        select_fields: ['vmi', 'local_ip', 'client_port', 'remote_ip', 'server_port', 'protocol', 'forward_action', 'reverse_action', 'forward_sg_rule_uuid',
          'forward_sampled_bytes', 'reverse_sampled_bytes'],
        where: [[{ name: local, value: client, op: 1 }, { name: remote, value: server, op: 1 }]],
        limit: 200,
      });
      if (mine !== asked) return;
      detail.replaceChildren(h('h2', {}, `Sessions from ${client || '(untagged)'} to ${server || '(untagged)'}`),
        table(`${count(rows.length)} session records (at most 200)`, ['port (VMI)', 'client', 'server', { name: 'protocol', num: true }, 'action', 'reply action', 'rule',
          { name: 'bytes out', num: true }, { name: 'bytes back', num: true }],
        rows.map(s => [s.vmi, `${s.local_ip}:${s.client_port}`, `${s.remote_ip}:${s.server_port}`, String(s.protocol), s.forward_action, s.reverse_action,
          s.forward_sg_rule_uuid, count(s.forward_sampled_bytes), count(s.reverse_sampled_bytes)]), { 'aria-label': 'Sessions of the cell' }));
      detail.scrollIntoView({ block: 'nearest' });
    } catch (e) {
      detail.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  }

  load();
  return () => {};
}
