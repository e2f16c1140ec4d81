// Charts with uPlot: time series, stacked or not, whose legend and hover show each series' own value.
import uPlot from 'uplot';
import { si } from './dom.js';

const palette = ['#2f6fdf', '#e4572e', '#29a36a', '#f2a541', '#8e5ad8', '#17becf', '#d6477a', '#7f7f7f',
  '#bcbd22', '#1f9e89', '#ff7f0e', '#5b8def', '#c44e52', '#64b5cd', '#937860', '#55a868'];

export const color = i => palette[i % palette.length];

/**
 * A chart in `el` for times (seconds) and named series of values (arrays aligned with the times, null for none).
 * stacked: each series drawn on top of the ones before it (areas); the legend and hover still show each own value.
 * Answers { update(times, names, values), destroy() }; a change of names makes the chart again.
 */
export function timeChart(el, { stacked, unit, height, label }) {
  let plot = null;
  let shownNames = '';
  let raw = [];
  const width = () => Math.max(320, el.clientWidth || 800);
  const resize = () => plot && plot.setSize({ width: width(), height: height || 320 });
  window.addEventListener('resize', resize);

  function make(names) {
    if (plot) plot.destroy();
    const series = [{ label: 'time (UTC)', value: (u, v) => v == null ? '' : new Date(v * 1000).toISOString().slice(11, 19) }];
    names.forEach((name, i) => series.push({
      label: name,
      stroke: color(i),
      fill: stacked ? color(i) + '99' : undefined,
      width: stacked ? 1 : 2,
      points: { show: false },
      value: (u, v, si2, idx) => idx == null || raw[si2 - 1] == null ? '' : fmt(raw[si2 - 1][idx]),
    }));
    const bands = [];
    if (stacked) for (let i = names.length; i > 1; i--) bands.push({ series: [i, i - 1] });
    plot = new uPlot({
      width: width(),
      height: height || 320,
      series,
      bands,
      scales: { x: { time: true } },
      axes: [{ values: (u, ticks) => ticks.map(t => clock(t, ticks)) }, { size: 70, values: (u, ticks) => ticks.map(t => si(t)), label: unit }],
      legend: { live: true },
      cursor: { points: { show: false } },
    }, [[]].concat(names.map(() => [])), el);
    plot.root.setAttribute('role', 'img');
    plot.root.setAttribute('aria-label', label || 'chart');
  }

  // Times as UTC clock readings: seconds only when the ticks are closer than a minute, the date when they span days.
  const clock = (t, ticks) => {
    const iso = new Date(t * 1000).toISOString();
    const step = ticks.length > 1 ? ticks[1] - ticks[0] : 60;
    return step >= 86400 ? iso.slice(5, 10) : step >= 3600 * 6 ? iso.slice(5, 10) + ' ' + iso.slice(11, 16) : step < 60 ? iso.slice(11, 19) : iso.slice(11, 16);
  };
  const fmt = v => v == null ? '' : si(v) + (unit ? ' ' + unit : '');

  return {
    update(times, names, values) {
      const key = names.join('\u0001');
      if (!plot || key !== shownNames) {
        make(names);
        shownNames = key;
      }
      raw = values;
      let data = values;
      if (stacked) {
        // Cumulative sums, the first series at the bottom.
        const sums = new Array(times.length).fill(0);
        data = values.map(v => v.map((x, i) => (sums[i] += x || 0)));
      }
      plot.setData([times].concat(data));
    },
    destroy() {
      window.removeEventListener('resize', resize);
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
