// Deep mode in the editor: a "Jobs" tab to start a job, follow its progress and log live, cancel it,
// and review/apply its changes (review.js). Server side: workspace/jobs (jobs.* messages, job.* events).

import { formatTokens, h, isActive } from './dom.js';
import { EnvironmentSection } from './environment.js';
import { ReviewOverlay } from './review.js';
import { injectStyles } from './styles.js';

const KINDS = [
  ['agent', 'Agent task'],
  ['tests', 'Run the tests'],
  ['lint', 'Lint the workspace'],
];
const MAX_LOG = 400;

class JobsPanel {
  constructor(app) {
    this.app = app;
    this.jobs = new Map();
    this.logs = new Map();
    this.openLogs = new Set();
    this.review = new ReviewOverlay(app);
    this.root = app.panels.addTab('jobs', 'Jobs');
    this.list = h('div', { class: 'jobs-list', testid: 'jobs-list' });
    this.environment = new EnvironmentSection(app);
    this.root.append(this.buildForm(), this.environment.root, this.list);
  }

  buildForm() {
    const kind = h('select', { testid: 'jobs-kind', 'aria-label': 'Job kind' }, ...KINDS.map(([v, l]) => h('option', { value: v }, l)));
    const prompt = h('textarea', {
      testid: 'jobs-prompt',
      placeholder: 'What should Deep mode do? e.g. "add tests for parser.py"',
      'aria-label': 'Task',
    });
    const start = h('button', { type: 'submit', class: 'primary', testid: 'jobs-start', disabled: !this.app.canEdit }, 'Start job');
    kind.addEventListener('change', () => {
      prompt.hidden = kind.value !== 'agent';
    });
    const form = h('form', { class: 'jobs-form', testid: 'jobs-form' }, kind, prompt, start);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      start.disabled = true;
      try {
        const { job } = await this.app.ws.request('jobs.create', { kind: kind.value, prompt: prompt.value });
        this.upsert(job);
        this.openLogs.add(job.id);
        prompt.value = '';
        this.render();
      } catch (error) {
        this.app.toast(error.message, 'error');
      } finally {
        start.disabled = !this.app.canEdit;
      }
    });
    if (!this.app.canEdit) form.append(h('small', {}, 'Viewers can follow jobs but not start them.'));
    return form;
  }

  async load() {
    const { jobs } = await this.app.ws.request('jobs.list', {});
    for (const job of jobs) this.upsert(job);
    this.render();
  }

  upsert(job) {
    const known = this.jobs.get(job.id ?? job.job_id) ?? {};
    const merged = { ...known, ...job, id: job.id ?? job.job_id };
    delete merged.job_id;
    this.jobs.set(merged.id, merged);
    return merged;
  }

  async ensureKnown(jobId) {
    if (this.jobs.has(jobId)) return;
    const { job } = await this.app.ws.request('jobs.get', { job_id: jobId });
    this.logs.set(jobId, job.events);
    this.upsert(job);
  }

  listen() {
    const { ws } = this.app;
    ws.on('job.progress', async (m) => {
      await this.ensureKnown(m.job_id);
      this.upsert(m);
      this.renderJob(m.job_id);
    });
    ws.on('job.event', async (m) => {
      await this.ensureKnown(m.job_id);
      const log = this.logs.get(m.job_id) ?? [];
      if (!log.some((e) => e.seq === m.seq)) log.push(m);
      this.logs.set(m.job_id, log.slice(-MAX_LOG));
      this.renderJob(m.job_id);
    });
    ws.on('job.finished', (m) => {
      const job = this.upsert(m.job);
      this.renderJob(job.id);
      const kind = job.status === 'succeeded' ? 'success' : job.status === 'failed' ? 'error' : 'info';
      this.app.toast(`Job #${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}`, kind);
    });
    // Positions of the queued jobs moved (one started, was cancelled or joined the queue).
    ws.on('job.queue', (m) => {
      for (const job of this.jobs.values()) {
        const position = m.positions[String(job.id)] ?? null;
        if (job.queue_position !== position) {
          job.queue_position = position;
          this.renderJob(job.id);
        }
      }
    });
    ws.on('job.applied', (m) => {
      if (this.review.isOpenFor(m.job_id)) this.review.refresh();
    });
    // After a reconnect the list may have moved on.
    ws.on('hello', () => this.load().catch(() => {}));
  }

  async toggleLog(jobId) {
    if (this.openLogs.has(jobId)) this.openLogs.delete(jobId);
    else {
      this.openLogs.add(jobId);
      const { job } = await this.app.ws.request('jobs.get', { job_id: jobId });
      this.logs.set(jobId, job.events);
    }
    this.renderJob(jobId);
  }

  render() {
    const jobs = [...this.jobs.values()].sort((a, b) => b.id - a.id);
    this.list.replaceChildren(...jobs.map((job) => this.card(job)));
    if (!jobs.length) this.list.append(h('p', { class: 'panel-placeholder' }, 'No jobs yet.'));
  }

  renderJob(jobId) {
    const existing = this.list.querySelector(`[data-job-id="${jobId}"]`);
    const job = this.jobs.get(jobId);
    if (!job) return;
    if (existing) existing.replaceWith(this.card(job));
    else this.render();
    // Follow the live log like a terminal.
    const log = this.list.querySelector(`[data-job-id="${jobId}"] [data-testid=job-log]`);
    if (log) log.scrollTop = log.scrollHeight;
  }

  card(job) {
    const percent = Math.round((job.progress || 0) * 100);
    const actions = [];
    if (isActive(job) && this.app.canEdit && !job.cancel_requested) {
      actions.push(
        h('button', { type: 'button', testid: 'job-cancel', onclick: () => this.cancel(job.id) }, 'Cancel'),
      );
    }
    if (job.status === 'succeeded' && job.files_changed) {
      actions.push(
        h('button', { type: 'button', class: 'primary', testid: 'job-review', onclick: () => this.openReview(job.id) }, `Review ${job.files_changed} file(s)`),
      );
    }
    actions.push(
      h('button', { type: 'button', testid: 'job-log-toggle', onclick: () => this.toggleLog(job.id) }, this.openLogs.has(job.id) ? 'Hide log' : 'Log'),
    );
    const log = this.openLogs.has(job.id)
      ? h(
          'div',
          { class: 'job-log', testid: 'job-log' },
          ...(this.logs.get(job.id) ?? []).map((e) =>
            h('div', { class: 'job-log-entry', 'data-kind': e.kind }, h('span', { class: 'kind' }, e.kind), e.message),
          ),
        )
      : null;
    return h(
      'div',
      { class: 'job-card', testid: 'job-card', 'data-job-id': job.id, 'data-status': job.status },
      h(
        'div',
        { class: 'job-head' },
        h('span', { class: 'job-title', title: job.prompt || job.command || '' }, `#${job.id} ${job.prompt || KINDS.find(([k]) => k === job.kind)?.[1] || job.kind}`),
        h('span', { class: 'job-status', 'data-status': job.status, testid: 'job-status' }, job.cancel_requested && isActive(job) ? 'cancelling' : job.status),
      ),
      h('div', { class: 'job-bar', role: 'progressbar', 'aria-valuenow': percent, 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { style: `width:${percent}%` })),
      h(
        'div',
        { class: 'job-meta' },
        h('span', { class: 'job-step', testid: 'job-step', title: job.step || '' }, job.step || ''),
        job.status === 'queued' && job.queue_position
          ? h('span', { class: 'job-queue', testid: 'job-queue-position' }, `#${job.queue_position} in queue`)
          : null,
        h('span', { class: 'job-tokens', testid: 'job-tokens' }, formatTokens(job)),
      ),
      job.error ? h('div', { class: 'job-error', testid: 'job-error' }, job.error) : null,
      this.sparkLink(job),
      h('div', { class: 'job-actions' }, ...actions),
      log,
    );
  }

  // A job handed over from a Spark thread links back to it (the Spark plugin knows the thread).
  sparkLink(job) {
    const thread = this.app.spark?.threadForJob?.(job.id);
    if (!thread) return null;
    return h('a', { class: 'job-spark-link', testid: 'job-spark-link', href: `/history/spark/${thread}/`, target: '_blank' }, `⚡ from Spark thread #${thread}`);
  }

  async cancel(jobId) {
    try {
      const { job } = await this.app.ws.request('jobs.cancel', { job_id: jobId });
      this.upsert(job);
      this.renderJob(jobId);
    } catch (error) {
      this.app.toast(error.message, 'error');
    }
  }

  async openReview(jobId) {
    try {
      await this.review.open(jobId);
    } catch (error) {
      this.app.toast(error.message, 'error');
    }
  }
}

export default {
  name: 'jobs',
  install(app) {
    injectStyles();
    const panel = new JobsPanel(app);
    panel.listen();
    panel.render();
    panel.load().catch((error) => app.toast(`Could not load jobs: ${error.message}`, 'error'));
    app.jobs = panel;
  },
};
