// A list of the API's objects as a table, each row with the actions the signed-in key may try.
import { h, table } from '../dom.js';

/** columns: [[member, heading]]; actions(obj): buttons (or null). */
export function objectTable(caption, columns, objects, actions, label) {
  const cols = columns.map(c => c[1]).concat(actions ? ['actions'] : []);
  return table(caption, cols, objects.map(o => columns.map(([k]) => show(o[k])).concat(actions ? [h('span', { class: 'actions' }, actions(o))] : [])), { 'aria-label': label || caption });
}

function show(v) {
  if (v == null) return '';
  if (Array.isArray(v)) return v.map(show).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Runs a change the key asked for, then says it is done and lists again; a refusal is shown with the server's reason. */
export function acting(state, reload) {
  return async (change, done) => {
    try {
      await change();
      state.show(done);
      await reload();
    } catch (e) {
      state.show(e.message, true);
    }
  };
}
