// A time range: a preset (the last N minutes, hours or days, up to the flow logs' two weeks) or from/to in UTC.
import { h, field, select, utc, parseUtc } from '../dom.js';

const PRESETS = [
  ['5m', 'Last 5 minutes', 300], ['15m', 'Last 15 minutes', 900], ['1h', 'Last hour', 3600], ['6h', 'Last 6 hours', 21600],
  ['24h', 'Last 24 hours', 86400], ['7d', 'Last 7 days', 604800], ['14d', 'Last 14 days', 1209600], ['custom', 'From … to … (UTC)', 0],
];

/** { el, value(): { from, to } (Dates, null when unreadable), preset() } */
export function rangePicker(initial) {
  const preset = select(PRESETS.map(p => [p[0], p[1]]), PRESETS.some(p => p[0] === initial) ? initial : '1h');
  const now = new Date();
  const from = h('input', { type: 'text', size: 19, spellcheck: 'false', placeholder: 'YYYY-MM-DD HH:MM:SS', value: utc(new Date(now.getTime() - 3600e3)) });
  const to = h('input', { type: 'text', size: 19, spellcheck: 'false', placeholder: 'YYYY-MM-DD HH:MM:SS', value: utc(now) });
  const custom = h('div', { class: 'custom-range' }, field('From (UTC)', from), field('To (UTC)', to));
  const show = () => { custom.hidden = preset.value !== 'custom'; };
  preset.addEventListener('change', () => {
    if (preset.value === 'custom') {
      // Start from the preset last shown, so that the range can be narrowed from there.
      const span = 3600e3;
      const end = new Date();
      from.value = utc(new Date(end.getTime() - span));
      to.value = utc(end);
    }
    show();
  });
  show();
  return {
    el: h('div', { class: 'range' }, field('Time range', preset), custom),
    preset: () => preset.value,
    value() {
      const p = PRESETS.find(x => x[0] === preset.value);
      if (p && p[2]) {
        // Whole seconds, the end one second ahead so that what arrived this second is in.
        const end = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
        return { from: new Date(end.getTime() - p[2] * 1000), to: end };
      }
      return { from: parseUtc(from.value), to: parseUtc(to.value) };
    },
  };
}
