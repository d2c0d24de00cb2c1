// SVG charts drawn by hand (no library): grouped histogram, stacked bars per day, rate line.

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];
const W = 460;
const H = 200;
const PAD = { left: 44, right: 10, top: 24, bottom: 34 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text != null) node.textContent = text;
  return node;
}

function frame(title, testid) {
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title });
  svg.dataset.testid = testid;
  svg.append(el('text', { x: PAD.left, y: 14, 'font-size': 12, 'font-weight': 600, fill: 'currentColor' }, title));
  return svg;
}

function yAxis(svg, max, format = (v) => v) {
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i += 1) {
    const value = (max * i) / 4;
    const y = PAD.top + plotH - (plotH * i) / 4;
    svg.append(el('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, stroke: '#8884' }));
    svg.append(el('text', { x: PAD.left - 4, y: y + 3, 'font-size': 9, 'text-anchor': 'end', fill: 'currentColor' }, format(value)));
  }
}

/** A y-axis maximum that divides into 4 whole-number ticks. */
function niceCountMax(max) {
  return Math.max(4, Math.ceil(max / 4) * 4);
}

function legend(svg, names) {
  let x = W - PAD.right;
  [...names].reverse().forEach((name, i) => {
    const index = names.length - 1 - i;
    const width = 14 + name.length * 5.5;
    x -= width;
    svg.append(el('rect', { x, y: 5, width: 8, height: 8, fill: COLORS[index % COLORS.length] }));
    svg.append(el('text', { x: x + 10, y: 12, 'font-size': 9, fill: 'currentColor' }, name));
  });
}

function empty(svg) {
  svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', 'font-size': 11, fill: 'currentColor' }, 'no data yet'));
  return svg;
}

/** Histogram of latency buckets, one bar per series in each bucket. series: [{name, counts}] */
export function histogramChart(title, testid, bucketsMs, series) {
  const svg = frame(title, testid);
  const shown = series.filter((s) => s.counts.some((c) => c > 0));
  if (!shown.length) return empty(svg);
  const labels = [...bucketsMs.map((b) => (b >= 1000 ? `≤${b / 1000}s` : `≤${b}`)), `>${bucketsMs.at(-1) / 1000}s`];
  const max = niceCountMax(Math.max(...shown.flatMap((s) => s.counts)));
  yAxis(svg, max, (v) => Math.round(v));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const groupW = plotW / labels.length;
  const barW = Math.max(1, (groupW - 4) / shown.length);
  labels.forEach((label, b) => {
    const gx = PAD.left + b * groupW;
    svg.append(el('text', { x: gx + groupW / 2, y: H - PAD.bottom + 12, 'font-size': 8, 'text-anchor': 'middle', fill: 'currentColor' }, label));
    shown.forEach((s, i) => {
      const hgt = (plotH * s.counts[b]) / max;
      const bar = el('rect', { x: gx + 2 + i * barW, y: PAD.top + plotH - hgt, width: barW, height: hgt, fill: COLORS[i % COLORS.length] });
      bar.append(el('title', {}, `${s.name} ${label} ms: ${s.counts[b]}`));
      svg.append(bar);
    });
  });
  svg.append(el('text', { x: W / 2, y: H - 4, 'font-size': 9, 'text-anchor': 'middle', fill: 'currentColor' }, 'milliseconds'));
  legend(svg, shown.map((s) => s.name));
  return svg;
}

/** Stacked bars per day. days: [{day, ...}], keys: series names present in each day object. */
export function stackedDaysChart(title, testid, days, keys) {
  const svg = frame(title, testid);
  if (!days.length) return empty(svg);
  const max = niceCountMax(Math.max(...days.map((d) => keys.reduce((sum, k) => sum + (d[k] || 0), 0))));
  yAxis(svg, max, (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : Math.round(v)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = Math.min(plotW / days.length, 48);
  const every = Math.ceil(days.length / 8);
  days.forEach((d, i) => {
    let y = PAD.top + plotH;
    keys.forEach((key, k) => {
      const hgt = (plotH * (d[key] || 0)) / max;
      y -= hgt;
      const bar = el('rect', { x: PAD.left + i * slot + 1, y, width: Math.max(1, slot - 2), height: hgt, fill: COLORS[k % COLORS.length] });
      bar.append(el('title', {}, `${d.day} ${key}: ${d[key] || 0}`));
      svg.append(bar);
    });
    if (i % every === 0) {
      svg.append(el('text', { x: PAD.left + i * slot + slot / 2, y: H - PAD.bottom + 12, 'font-size': 8, 'text-anchor': 'middle', fill: 'currentColor' }, d.day.slice(5)));
    }
  });
  legend(svg, keys);
  return svg;
}

/** Success rate (0..1) per day as a line with points. */
export function rateChart(title, testid, days) {
  const svg = frame(title, testid);
  const points = days.filter((d) => d.rate != null);
  if (!points.length) return empty(svg);
  yAxis(svg, 1, (v) => `${Math.round(v * 100)}%`);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (points.length === 1 ? plotW / 2 : (plotW * i) / (points.length - 1));
  const y = (rate) => PAD.top + plotH - plotH * rate;
  svg.append(el('polyline', { points: points.map((p, i) => `${x(i)},${y(p.rate)}`).join(' '), fill: 'none', stroke: COLORS[4], 'stroke-width': 2 }));
  points.forEach((p, i) => {
    const dot = el('circle', { cx: x(i), cy: y(p.rate), r: 3, fill: COLORS[4] });
    dot.append(el('title', {}, `${p.day}: ${Math.round(p.rate * 100)}% (${p.succeeded} ok, ${p.failed} failed)`));
    svg.append(dot);
  });
  return svg;
}

/** A table of p50 / p90 / p99 of TTFT and overhead per mode. */
export function latencyTable(latency) {
  const table = document.createElement('table');
  table.className = 'history-latency';
  table.dataset.testid = 'latency-table';
  const fmt = (v) => (v == null ? '—' : Math.round(v));
  const head = ['Mode', 'n', 'TTFT p50', 'p90', 'p99', 'Overhead p50', 'p90', 'p99'];
  table.innerHTML = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>`;
  const body = document.createElement('tbody');
  for (const [mode, data] of Object.entries(latency)) {
    const tr = document.createElement('tr');
    const cells = [mode, Math.max(data.ttft.count, data.overhead.count), fmt(data.ttft.p50), fmt(data.ttft.p90), fmt(data.ttft.p99),
      fmt(data.overhead.p50), fmt(data.overhead.p90), fmt(data.overhead.p99)];
    for (const value of cells) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  return table;
}

/** Completions as you type, per model: acceptance rate and keystroke -> ghost text latency. */
export function completionsTable(rows) {
  const table = document.createElement('table');
  table.className = 'history-latency';
  table.dataset.testid = 'completions-table';
  const ms = (v) => (v == null ? '—' : v < 10 ? v.toFixed(1) : Math.round(v));
  const rate = (r) => (r == null ? '—' : `${Math.round(r * 100)}%`);
  const head = ['Completions: model', 'asked', 'shown', 'accepted', 'rate', 'latency p50', 'p90', 'p99', 'Sparkroom p50', 'p99'];
  table.innerHTML = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead>`;
  const body = document.createElement('tbody');
  for (const row of rows) {
    const tr = document.createElement('tr');
    const cells = [row.model, row.requests, row.shown, row.accepted, rate(row.acceptance_rate), ms(row.latency_p50),
      ms(row.latency_p90), ms(row.latency_p99), ms(row.server_p50), ms(row.server_p99)];
    for (const value of cells) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  return table;
}
