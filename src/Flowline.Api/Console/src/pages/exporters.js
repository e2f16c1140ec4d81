// Exporters: what each exporter sent and what became of it (records, loss, malformed datagrams by reason,
// queue drops, sampling), and the collector's own health, refreshed every 5 seconds.
import { call } from '../api.js';
import { h, status, table, count } from '../dom.js';

export function exporters(main) {
  const state = status();
  const health = h('div', { class: 'health' });
  const list = h('div', {});
  main.append(h('h1', {}, 'Exporters'), state, health, list);
  let gone = false;

  async function refresh() {
    try {
      const doc = await call('GET', '/api/v1/exporters', []);
      if (gone) return;
      const c = doc.collector || {};
      const t = c.templates || {};
      health.replaceChildren(table('Collector', [{ name: 'datagrams', num: true }, { name: 'records stored', num: true }, { name: 'queue drops', num: true },
        { name: 'queued now', num: true }, { name: 'store errors', num: true }, { name: 'store lag (s)', num: true }, { name: 'templates', num: true },
        { name: 'template scopes', num: true }, { name: 'templates refused', num: true }],
      [[count(c.datagrams), count(c.records_stored), count(c.queue_drops), count(c.queue_depth), count(c.store_errors), String(c.store_lag_seconds ?? ''),
        count(t.templates), count(t.scopes), count(t.templates_refused)]], { 'aria-label': 'Collector' }),
      table('Sockets', ['listener', { name: 'socket', num: true }, { name: 'datagrams', num: true }, { name: 'queue drops', num: true }, { name: 'queued', num: true }, { name: 'queue size', num: true }],
        (c.sockets || []).map(s => [s.listener, String(s.socket), count(s.datagrams), count(s.queue_drops), count(s.queue_depth), count(s.queue_capacity)]), { 'aria-label': 'Sockets' }));
      const rows = doc.exporters.map(e => [e.address, e.protocol, String(e.domain), count(e.datagrams), count(e.records),
        h('span', { title: Object.entries(e.malformed_by_reason || {}).map(([k, v]) => `${k}: ${v}`).join('\n') || 'none' }, count(e.malformed)),
        Object.entries(e.malformed_by_reason || {}).map(([k, v]) => `${k} ${count(v)}`).join(', '),
        count(e.queue_drops), `${count(e.lost)} ${e.lost_unit || ''}`.trim(), count(e.sequence_resets), e.sampling_rate ? `1:${e.sampling_rate}` : '',
        (e.last_seen || '').replace('T', ' ').slice(0, 19)]);
      list.replaceChildren(table(`${doc.exporters.length} exporters`, ['address', 'protocol', { name: 'domain', num: true }, { name: 'datagrams', num: true },
        { name: 'records', num: true }, { name: 'malformed', num: true }, 'malformed by reason', { name: 'queue drops', num: true }, { name: 'lost', num: true },
        { name: 'restarts', num: true }, 'sampling', 'last seen (UTC)'], rows, { class: 'exporters', 'aria-label': 'Exporters' }));
      state.show(`Updated ${new Date().toISOString().slice(11, 19)} UTC`);
    } catch (e) {
      state.show(e.message, true);
    }
  }
  refresh();
  const timer = setInterval(refresh, 5000);
  return () => { gone = true; clearInterval(timer); };
}
