// A time-series line chart of query results (uPlot): one series per numeric column and tag
// combination; drag to zoom, double-click to reset, hover for values.
import uPlot from '../vendor/uPlot.min.mjs';
import { h } from './dom.js';
import { columnsOf } from './results.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
  '#17becf', '#7f7f7f', '#bcbd22'];
const MAX_SERIES = 24;

/** Seconds since the epoch of a server timestamp (ISO-8601 without zone, UTC). */
export function epochSeconds(text) {
  if (typeof text === 'number') return text / 1e9;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?/.exec(String(text));
  if (!m) return NaN;
  const fraction = m[2] ? Number(`0.${m[2]}`) : 0;
  return Date.parse(`${m[1]}Z`) / 1000 + fraction;
}

/** The series a result can be charted as, or null when it has no time or no numbers. */
export function chartData(rows) {
  const columns = columnsOf(rows);
  if (!columns.includes('time') || rows.length === 0) return null;
  const numeric = [];
  const tags = [];
  for (const c of columns) {
    if (c === 'time') continue;
    const values = rows.map((r) => r[c]).filter((v) => v !== undefined && v !== null);
    if (values.length === 0) continue;
    if (values.every((v) => typeof v === 'number')) numeric.push(c);
    else if (values.every((v) => typeof v === 'string')) tags.push(c);
  }
  if (numeric.length === 0) return null;
  const times = new Map();
  const series = new Map();
  for (const row of rows) {
    const t = epochSeconds(row.time);
    if (Number.isNaN(t)) continue;
    if (!times.has(t)) times.set(t, times.size);
    const group = tags.map((c) => `${c}=${row[c] ?? ''}`).join(',');
    for (const c of numeric) {
      const value = row[c];
      if (typeof value !== 'number') continue;
      const name = group ? `${c} {${group}}` : c;
      if (!series.has(name)) {
        if (series.size >= MAX_SERIES) continue;
        series.set(name, new Map());
      }
      series.get(name).set(t, value);
    }
  }
  const xs = [...times.keys()].sort((a, b) => a - b);
  const data = [xs, ...[...series.values()].map((m) => xs.map((x) => (m.has(x) ? m.get(x) : null)))];
  return { names: [...series.keys()], data };
}

export function timeChart(chart, { height = 300, title } = {}) {
  const holder = h('div', { class: 'chart', role: 'img',
    'aria-label': `${title || 'Time-series chart'}: ${chart.names.join(', ')}` });
  const options = {
    width: 600,
    height,
    title,
    cursor: { drag: { x: true, y: false } },
    // one instant alone would stretch the axis over years
    scales: { x: { time: true, range: (u, min, max) => (min === max ? [min - 60, max + 60] : [min, max]) } },
    series: [{}, ...chart.names.map((name, i) => ({
      label: name, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
      points: { show: chart.data[0].length < 60 },
    }))],
    axes: [{}, { size: 60 }],
  };
  let plot = null;
  const fit = () => {
    const width = Math.max(280, holder.clientWidth || 600);
    if (!plot) plot = new uPlot({ ...options, width }, chart.data, holder);
    else plot.setSize({ width, height });
  };
  const observer = new ResizeObserver(() => fit());
  // drawn once it is in the page and has a width
  requestAnimationFrame(() => { if (holder.isConnected) { fit(); observer.observe(holder); } });
  holder.destroy = () => { observer.disconnect(); plot?.destroy(); };
  return holder;
}
