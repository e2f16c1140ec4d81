// Flow-log search: a time range, a filter in nfdump's language (a bad one marked at the parser's column), the
// flows page by page (cursor paging) with the columns chosen, or groups/top N with a time series, and downloads.
import { call, scopeParams, ndjson } from '../api.js';
import { h, field, select, status, table, count, rfc3339, utc, download } from '../dom.js';
import { timeChart } from '../chart.js';
import { rangePicker } from './range.js';
import { describeFlowLogs } from '../jcs.js';

const DEFAULT_FIELDS = ['start', 'end', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'ip_proto', 'bytes', 'packets', 'account', 'vmi', 'vmi_direction', 'action'];
const NUMERIC = new Set(['bytes', 'packets', 'flows', 'sampled_bytes', 'sampled_packets', 'rev_bytes', 'rev_packets', 'src_port', 'dst_port']);

export function search(main) {
  const saved = JSON.parse(window.sessionStorage.getItem('flowline.search') || '{}');
  const range = rangePicker(saved.range || '1h');
  const filter = h('input', { type: 'text', value: saved.filter || '', size: 60, spellcheck: 'false', placeholder: 'e.g. proto tcp and dst port 443 and not action drop', 'aria-describedby': 'filter-error' });
  const filterError = h('div', { id: 'filter-error', class: 'filter-error', role: 'alert' });
  const mode = select([['flows', 'Flows'], ['groups', 'Group by / top N']], saved.mode || 'flows');
  const groupBy = h('input', { type: 'text', value: saved.groupBy || 'dst_port', size: 30, spellcheck: 'false', placeholder: 'src_addr/24,dst_port' });
  const order = select([['bytes', 'bytes'], ['packets', 'packets'], ['flows', 'flows']], saved.order || 'bytes');
  const top = h('input', { type: 'number', min: 1, max: 1000, value: saved.top || 10, size: 5 });
  const bucket = select([['', 'none'], ['1m', '1 minute'], ['5m', '5 minutes'], ['1h', '1 hour']], saved.bucket || '');
  const pageSize = select([['50', '50'], ['100', '100'], ['500', '500'], ['1000', '1000']], saved.pageSize || '100');
  const chosen = new Set(saved.fields || DEFAULT_FIELDS);
  const columns = h('fieldset', { class: 'columns' }, h('legend', {}, 'Columns'));
  const groupControls = h('div', { class: 'group-controls' }, field('Group by (fields, addresses /bits)', groupBy), field('Order by', order), field('Top N', top), field('Time buckets', bucket));
  const listControls = h('div', { class: 'list-controls' }, field('Rows a page', pageSize), h('details', {}, h('summary', {}, 'Choose columns'), columns));
  const run = h('button', { type: 'submit' }, 'Search');
  const state = status();
  const results = h('div', { class: 'results' });
  const pager = h('div', { class: 'pager' });
  const downloads = h('div', { class: 'downloads', role: 'group', 'aria-label': 'Download' },
    h('span', {}, 'Download: '),
    ['CSV', 'NDJSON', 'VPC', 'JCS JSON'].map(f => h('button', { type: 'button', onclick: () => save(f) }, f)));
  const form = h('form', { class: 'controls search', 'aria-label': 'Flow-log search', onsubmit: e => { e.preventDefault(); cursors = ['']; go(0); } },
    range.el, field('Filter (nfdump syntax)', filter), filterError, field('Show', mode), groupControls, listControls, run);
  main.append(h('h1', {}, 'Flow logs'), form, state, results, pager, downloads);

  let cursors = ['']; // cursors[i]: the cursor of page i
  let chart = null;
  const showMode = () => {
    groupControls.hidden = mode.value !== 'groups';
    listControls.hidden = mode.value !== 'flows';
    downloads.hidden = mode.value !== 'flows';
  };
  mode.addEventListener('change', showMode);
  showMode();

  call('GET', '/api/v1/fields', []).then(doc => {
    columns.append(...doc.fields.map(f => {
      const box = h('input', { type: 'checkbox', checked: chosen.has(f.name), value: f.name, onchange: e => { if (e.target.checked) chosen.add(f.name); else chosen.delete(f.name); } });
      return h('div', { class: 'field inline' }, box, h('label', { for: box.id = 'col-' + f.name, title: f.description }, f.name));
    }));
  }).catch(e => state.show(e.message, true));

  function remember() {
    window.sessionStorage.setItem('flowline.search', JSON.stringify({
      range: range.preset(), filter: filter.value, mode: mode.value, groupBy: groupBy.value, order: order.value, top: top.value,
      bucket: bucket.value, pageSize: pageSize.value, fields: [...chosen],
    }));
  }

  function markFilter(e) {
    if (e && e.column) {
      const text = filter.value;
      const at = Math.min(Math.max(e.column - 1, 0), text.length);
      filterError.replaceChildren(h('p', {}, `Column ${e.column}: ${e.reason || e.message}`),
        h('pre', { 'aria-hidden': 'true' }, text + '\n' + ' '.repeat(at) + '^'));
      filter.setAttribute('aria-invalid', 'true');
      filter.focus();
      filter.setSelectionRange(at, Math.min(text.length, at + 1));
      return true;
    }
    filterError.replaceChildren();
    filter.removeAttribute('aria-invalid');
    return false;
  }

  function listParams(limit, cursor) {
    const { from, to } = range.value();
    const p = [['from', rfc3339(from)], ['to', rfc3339(to)]];
    if (filter.value.trim()) p.push(['filter', filter.value.trim()]);
    p.push(['fields', fieldsShown().join(',')]);
    if (limit) p.push(['limit', String(limit)]);
    if (cursor) p.push(['cursor', cursor]);
    return p.concat(scopeParams());
  }

  const fieldsShown = () => [...chosen].length ? [...chosen] : DEFAULT_FIELDS;

  let asked = 0; // the latest search: an older one's late answer is dropped, never shown over a newer one

  async function go(page) {
    const mine = ++asked;
    remember();
    const r = range.value();
    if (!r.from || !r.to) { state.show('The range needs a start and an end (UTC, YYYY-MM-DD HH:MM:SS).', true); return; }
    state.show('Searching…');
    if (chart) { chart.destroy(); chart = null; }
    try {
      if (mode.value === 'groups') await groups(r, mine);
      else await flows(page, mine);
      if (mine === asked) markFilter(null);
    } catch (e) {
      if (mine !== asked) return;
      results.replaceChildren();
      pager.replaceChildren();
      if (!markFilter(e)) state.show(e.message, true);
      else state.show('The filter does not parse.', true);
    }
  }

  async function flows(page, mine) {
    const started = performance.now();
    const response = await call('GET', '/api/v1/flows', listParams(Number(pageSize.value), cursors[page]), null, { raw: true });
    const rows = ndjson(await response.text());
    if (mine !== asked) return;
    const next = response.headers.get('X-Flowline-Next-Cursor');
    if (next) cursors[page + 1] = next;
    else cursors.length = page + 1;
    const cols = fieldsShown();
    results.replaceChildren(table(`Flows ${page * Number(pageSize.value) + 1}–${page * Number(pageSize.value) + rows.length}`,
      cols.map(c => ({ name: c, num: NUMERIC.has(c) })), rows.map(r => cols.map(c => r[c] == null ? '' : String(r[c]))), { class: 'flows', 'aria-label': 'Flows' }));
    pager.replaceChildren(
      h('button', { type: 'button', disabled: page === 0, onclick: () => go(page - 1) }, 'Previous page'),
      h('span', {}, ` Page ${page + 1} `),
      h('button', { type: 'button', disabled: !next, onclick: () => go(page + 1) }, 'Next page'));
    state.show(`${count(rows.length)} flows on this page${next ? ', more follow' : ''} · ${Math.round(performance.now() - started)} ms`);
  }

  async function groups(r, mine) {
    const body = {
      from: rfc3339(r.from), to: rfc3339(r.to), group_by: groupBy.value.split(',').map(s => s.trim()).filter(Boolean),
      order: order.value, limit: Number(top.value) || 10,
    };
    if (filter.value.trim()) body.filter = filter.value.trim();
    if (bucket.value) body.bucket = bucket.value;
    const answer = await call('POST', '/api/v1/query', scopeParams(), body);
    if (mine !== asked) return;
    const keys = answer.group_by;
    const cols = (answer.bucket_seconds ? ['bucket'] : []).concat(keys).concat(['bytes', 'packets', 'flows']);
    pager.replaceChildren();
    const chartBox = h('div', { class: 'chart' });
    results.replaceChildren(chartBox, table(`Top ${body.limit} by ${answer.order}${answer.bucket_seconds ? ' per bucket' : ''}`,
      cols.map(c => ({ name: c, num: ['bytes', 'packets', 'flows'].includes(c) })),
      answer.rows.map(row => cols.map(c => c === 'bucket' ? utc(new Date(row.bucket)) : row[c] == null ? '' : String(row[c]))), { class: 'groups', 'aria-label': 'Groups' }));
    if (answer.bucket_seconds && answer.rows.length) {
      // One line a group over the buckets.
      const buckets = [...new Set(answer.rows.map(x => x.bucket))].sort();
      const times = buckets.map(b => new Date(b).getTime() / 1000);
      const names = [...new Set(answer.rows.map(x => keys.map(k => x[k]).join(' ')))];
      const values = names.map(() => new Array(times.length).fill(null));
      for (const row of answer.rows) values[names.indexOf(keys.map(k => row[k]).join(' '))][buckets.indexOf(row.bucket)] = row[answer.order];
      chart = timeChart(chartBox, { stacked: false, unit: answer.order, label: `${answer.order} per bucket by ${keys.join(', ')}` });
      chart.update(times, names.slice(0, 16), values.slice(0, 16));
    }
    state.show(`${count(answer.rows.length)} rows · ${answer.elapsed_ms} ms`);
  }

  async function save(format) {
    remember();
    const r = range.value();
    if (!r.from || !r.to) return;
    state.show(`Preparing the ${format} file…`);
    const stamp = utc(r.from).replace(/[ :]/g, '') + '-' + utc(r.to).replace(/[ :]/g, '');
    try {
      if (format === 'JCS JSON') {
        // DescribeFlowLog takes no filter: every flow log of the range.
        const doc = await describeFlowLogs(r.from, r.to, (done, total) => state.show(`JCS flow logs: window ${done} of ${total}…`));
        download(`flow-logs-${stamp}.json`, 'application/json', JSON.stringify(doc, null, 2));
        state.show(`Saved ${count(doc.DescribeFlowLogResponse.value.item.length)} JCS flow logs (every flow log of the range: DescribeFlowLog takes no filter).`);
        return;
      }
      const params = listParams(100000, '');
      if (format === 'VPC') {
        const i = params.findIndex(p => p[0] === 'fields');
        params.splice(i, 1);
        params.push(['format', 'vpc']);
      }
      const response = await call('GET', '/api/v1/flows', params, null, { raw: true });
      const text = await response.text();
      const more = response.headers.get('X-Flowline-Next-Cursor') ? ' (the first 100,000 flows: narrow the range or the filter for the rest)' : '';
      if (format === 'NDJSON') download(`flows-${stamp}.ndjson`, 'application/x-ndjson', text);
      else if (format === 'VPC') download(`flows-${stamp}.log`, 'text/plain', text);
      else download(`flows-${stamp}.csv`, 'text/csv', csv(fieldsShown(), ndjson(text)));
      state.show(`Saved ${format}${more}.`);
    } catch (e) {
      if (!markFilter(e)) state.show(e.message, true);
    }
  }

  if (saved.run) go(0);
  return () => { if (chart) chart.destroy(); };
}

/** RFC 4180 CSV: a header line, then the rows, fields quoted when they hold a comma, a quote or a line break. */
export function csv(cols, rows) {
  const q = v => {
    const s = v == null ? '' : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return [cols.join(',')].concat(rows.map(r => cols.map(c => q(r[c])).join(','))).join('\r\n') + '\r\n';
}
