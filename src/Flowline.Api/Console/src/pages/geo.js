// Countries and networks (sFlow-RT's "Countries and Networks" dashboard over stored flows): traffic by source and
// destination country and AS over a chosen window, as tables with shares and a time series of the top countries.
import { call, scopeParams } from '../api.js';
import { h, field, select, status, count, si, rfc3339 } from '../dom.js';
import { timeChart } from '../chart.js';
import { rangePicker } from './range.js';

const GROUPS = [['src_country', 'Source countries'], ['dst_country', 'Destination countries'], ['src_as', 'Source AS'], ['dst_as', 'Destination AS']];

export function geo(main) {
  const range = rangePicker(window.sessionStorage.getItem('flowline.geo') || '1h');
  const order = select([['bytes', 'bytes'], ['packets', 'packets'], ['flows', 'flows']], 'bytes');
  const state = status();
  const chartBox = h('div', { class: 'chart' });
  const grid = h('div', { class: 'grid' });
  main.append(h('h1', {}, 'Countries and networks'),
    h('form', { class: 'controls', 'aria-label': 'Countries and networks settings', onsubmit: e => { e.preventDefault(); load(); } },
      range.el, field('Measure', order), h('button', { type: 'submit' }, 'Show')),
    state, h('h2', {}, 'Top destination countries over time'), chartBox, grid);
  let chart = null;
  let asked = 0; // the latest load: an older one's late answer is dropped, never shown over a newer one

  async function load() {
    const mine = ++asked;
    window.sessionStorage.setItem('flowline.geo', range.preset());
    const r = range.value();
    if (!r.from || !r.to) { state.show('The range needs a start and an end (UTC).', true); return; }
    state.show('Loading…');
    try {
      const base = { from: rfc3339(r.from), to: rfc3339(r.to), order: order.value };
      const answers = await Promise.all(GROUPS.map(([g]) => call('POST', '/api/v1/query', scopeParams(), { ...base, group_by: [g], limit: 20 })));
      if (mine !== asked) return;
      grid.replaceChildren(...answers.map((a, i) => shares(GROUPS[i], a, order.value)));
      // The five largest destination countries, per bucket of about a sixtieth of the window.
      const top = answers[1].rows.slice(0, 5).map(x => x.dst_country);
      const span = (r.to - r.from) / 1000;
      const bucket = span <= 3600 ? '1m' : span <= 6 * 3600 ? '5m' : span <= 2 * 86400 ? '1h' : '6h';
      const series = await call('POST', '/api/v1/query', scopeParams(), { ...base, group_by: ['dst_country'], bucket, limit: 5 });
      if (mine !== asked) return;
      const buckets = [...new Set(series.rows.map(x => x.bucket))].sort();
      const values = top.map(c => buckets.map(b => {
        const row = series.rows.find(x => x.bucket === b && x.dst_country === c);
        return row ? row[order.value] / series.bucket_seconds : 0;
      }));
      if (chart) chart.destroy();
      chart = timeChart(chartBox, { stacked: true, unit: `${order.value}/s`, height: 240, label: 'Top destination countries over time' });
      chart.update(buckets.map(b => new Date(b).getTime() / 1000), top.map(c => c || '(private)'), values);
      state.show(`${count(answers[0].rows.reduce((s, x) => s + x.flows, 0))} flows in the window · ${Math.max(...answers.map(a => a.elapsed_ms))} ms`);
    } catch (e) {
      if (mine === asked) state.show(e.message, true);
    }
  }
  load();
  return () => { if (chart) chart.destroy(); };
}

/** A table of the top values with each one's share of the window's total as a bar. */
function shares([key, title], answer, measure) {
  const total = answer.rows.reduce((s, x) => s + x[measure], 0);
  return h('section', { class: 'share' }, h('h2', {}, title),
    h('table', { 'aria-label': title },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, key.endsWith('as') ? 'AS' : 'country'), h('th', { scope: 'col', class: 'num' }, measure), h('th', { scope: 'col' }, 'share'))),
      h('tbody', {}, answer.rows.map(x => {
        const part = total ? x[measure] / total : 0;
        const bar = h('span', { class: 'bar' });
        bar.style.width = (part * 100).toFixed(1) + '%';
        return h('tr', {}, h('td', {}, x[key] === '' || x[key] == null || x[key] === 0 ? '(private or unknown)' : String(x[key])),
          h('td', { class: 'num', 'data-value': String(x[measure]) }, si(x[measure])),
          h('td', { class: 'sharecell' }, h('span', { class: 'barbox' }, bar), ` ${(part * 100).toFixed(1)} %`));
      }))));
}
