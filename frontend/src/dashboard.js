// The task history dashboard (/history/ and /history/w/<id>/): filters, table, pager, charts, live updates.

import { completionsTable, histogramChart, latencyTable, rateChart, stackedDaysChart } from './dashboard/charts.js';
import { renderAuthorship } from './dashboard/authorship.js';
import { connectLive } from './dashboard/live.js';
import { renderPager, renderRows } from './dashboard/table.js';

const FILTERS = ['mode', 'status', 'user', 'date_from', 'date_to', 'q'];
const REFRESH_DEBOUNCE_MS = 250;

const config = JSON.parse(document.getElementById('history-config').textContent);
const form = document.querySelector('[data-testid="history-filters"]');
const tbody = document.querySelector('[data-testid="history-table"] tbody');
const pager = document.querySelector('[data-testid="history-pager"]');
const charts = document.querySelector('[data-testid="history-charts"]');
const liveBadge = document.querySelector('[data-testid="history-live"]');
let page = 1;
let loadSeq = 0;

function filterParams() {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

function restoreFilters() {
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) if (params.has(name)) form.elements[name].value = params.get(name);
  page = Math.max(1, Number(params.get('page')) || 1);
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `${response.status} ${response.statusText}`);
  return data;
}

function updateLinks(params) {
  for (const format of ['csv', 'json']) {
    const query = new URLSearchParams(params);
    query.set('format', format);
    document.querySelector(`[data-testid="export-${format}"]`).href = `${config.apiBase}/export?${query}`;
  }
  const shown = new URLSearchParams(params);
  if (page > 1) shown.set('page', page);
  history.replaceState(null, '', `${location.pathname}${shown.size ? `?${shown}` : ''}`);
}

async function loadTable() {
  const seq = ++loadSeq;
  const params = filterParams();
  updateLinks(params);
  params.set('page', page);
  try {
    const data = await getJson(`${config.apiBase}?${params}`);
    if (seq !== loadSeq) return;
    renderRows(tbody, data.items, config.scope === 'all');
    renderPager(pager, data, (target) => {
      page = target;
      loadTable();
    });
    document.body.dataset.historyLoaded = String(seq);
  } catch (error) {
    tbody.replaceChildren();
    pager.textContent = `Could not load the history: ${error.message}`;
  }
}

async function loadCharts() {
  try {
    const stats = await getJson(`${config.apiBase}/stats?${filterParams()}`);
    const modes = Object.keys(stats.latency);
    const series = (metric) => modes.map((mode) => ({ name: mode, counts: stats.latency[mode][metric].histogram }));
    const summary = document.createElement('p');
    summary.dataset.testid = 'history-summary';
    const rate = (r) => (r == null ? '—' : `${Math.round(r * 100)}%`);
    summary.textContent = `${stats.records} record${stats.records === 1 ? '' : 's'} · Spark success ${rate(stats.success.spark.rate)} · Deep success ${rate(stats.success.deep.rate)}`;
    charts.replaceChildren(
      summary,
      histogramChart('Time to first token (ms) per mode', 'chart-ttft', stats.buckets_ms, series('ttft')),
      histogramChart('Sparkroom overhead (ms) per mode', 'chart-overhead', stats.buckets_ms, series('overhead')),
      stackedDaysChart('Tokens per day', 'chart-tokens', stats.tokens_per_day, ['spark', 'deep']),
      rateChart('Success rate per day', 'chart-success', stats.success_per_day),
      latencyTable(stats.latency),
      ...(stats.completions?.length ? [completionsTable(stats.completions)] : []),
    );
  } catch (error) {
    charts.textContent = `Could not load the charts: ${error.message}`;
  }
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadTable();
    loadCharts();
  }, REFRESH_DEBOUNCE_MS);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  page = 1;
  loadTable();
  loadCharts();
});

async function loadAuthorship() {
  const root = document.querySelector('[data-testid="history-authorship"]');
  if (!root || config.scope !== 'workspace') return;
  try {
    renderAuthorship(root, await getJson(`/api/workspaces/${config.workspaces[0].id}/authorship`));
  } catch (error) {
    root.textContent = `Authorship unavailable: ${error.message}`;
  }
}

restoreFilters();
loadTable();
loadCharts();
loadAuthorship();
connectLive(
  config.workspaces.map((w) => w.id),
  () => refreshSoon(),
  (status) => {
    liveBadge.dataset.status = status;
    liveBadge.textContent = `live: ${status}`;
  },
);
