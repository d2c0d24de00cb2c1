// Review a job's changeset per file in Monaco's diff editor, apply a file or all, and show conflicts.

import { api } from '../editor/http.js';
import { h } from './dom.js';

const APPLY_LABEL = { applied: 'applied', conflict: 'conflicts', applying: 'applying…' };

export class ReviewOverlay {
  constructor(app) {
    this.app = app;
    this.root = null;
    this.models = [];
  }

  async open(jobId) {
    this.close();
    const { job } = await this.app.ws.request('jobs.get', { job_id: jobId });
    this.job = job;
    this.selected = job.changeset[0]?.path ?? null;
    this.fileList = h('div', { class: 'jobs-review-files', testid: 'jobs-review-files' });
    this.toolbar = h('div', { class: 'jobs-review-toolbar' });
    this.diffHost = h('div', { class: 'jobs-review-diff', testid: 'jobs-diff' });
    this.conflicts = h('div', { class: 'jobs-conflicts', testid: 'jobs-conflicts', hidden: true });
    this.applyAllButton = h(
      'button',
      { type: 'button', class: 'primary', testid: 'jobs-apply-all', disabled: !this.app.canEdit, onclick: () => this.apply(null) },
      'Apply all',
    );
    this.root = h(
      'div',
      { class: 'jobs-review', role: 'dialog', 'aria-label': 'Review job changes', testid: 'jobs-review' },
      h(
        'div',
        { class: 'jobs-review-head' },
        h('strong', {}, `Job #${job.id}`),
        h('span', { class: 'grow' }, job.prompt || job.kind),
        this.applyAllButton,
        this.app.canEdit
          ? h('button', { type: 'button', testid: 'jobs-commit', onclick: () => this.commit() }, 'Apply & commit')
          : null,
        h('button', { type: 'button', testid: 'jobs-review-close', onclick: () => this.close() }, 'Close'),
      ),
      h(
        'div',
        { class: 'jobs-review-body' },
        this.fileList,
        h('div', { class: 'jobs-review-main' }, this.toolbar, this.diffHost, this.conflicts),
      ),
    );
    document.body.append(this.root);
    this.diffEditor = this.app.monaco.editor.createDiffEditor(this.diffHost, {
      readOnly: true,
      automaticLayout: true,
      theme: 'vs-dark',
      renderSideBySide: true,
      originalEditable: false,
    });
    this.render();
  }

  close() {
    // The diff editor must let go of its models before they are disposed.
    this.diffEditor?.setModel(null);
    this.diffEditor?.dispose();
    this.diffEditor = null;
    for (const model of this.models.splice(0)) model.dispose();
    this.shownDiffKey = undefined;
    this.root?.remove();
    this.root = null;
  }

  isOpenFor(jobId) {
    return this.root != null && this.job?.id === jobId;
  }

  async refresh() {
    if (!this.root) return;
    const { job } = await this.app.ws.request('jobs.get', { job_id: this.job.id });
    this.job = job;
    this.render();
  }

  entry() {
    return this.job.changeset.find((e) => e.path === this.selected) ?? null;
  }

  render() {
    this.fileList.replaceChildren(
      ...this.job.changeset.map((e) =>
        h(
          'button',
          {
            type: 'button',
            class: `jobs-review-file${e.path === this.selected ? ' active' : ''}`,
            testid: 'jobs-review-file',
            'data-path': e.path,
            onclick: () => {
              this.selected = e.path;
              this.render();
            },
          },
          e.path,
          h('small', {}, `${e.status}${e.from_path ? ` from ${e.from_path}` : ''}${e.apply ? ` · ${APPLY_LABEL[e.apply.status] ?? e.apply.status}` : ''}`),
        ),
      ),
    );
    if (!this.job.changeset.length) this.fileList.append(h('p', { class: 'panel-placeholder' }, 'No file changes.'));
    this.applyAllButton.disabled = !this.app.canEdit || this.job.changeset.every((e) => e.apply);
    const entry = this.entry();
    this.renderToolbar(entry);
    this.renderDiff(entry);
    this.renderConflicts(entry);
  }

  renderToolbar(entry) {
    if (!entry) {
      this.toolbar.replaceChildren();
      return;
    }
    const done = entry.apply?.status;
    this.toolbar.replaceChildren(
      h('span', { class: 'grow' }, entry.path),
      h('span', { testid: 'jobs-file-apply-status' }, done ? APPLY_LABEL[done] ?? done : 'not applied'),
      h(
        'button',
        {
          type: 'button',
          testid: 'jobs-apply-file',
          disabled: !this.app.canEdit || Boolean(done),
          onclick: () => this.apply([entry.path]),
        },
        'Apply this file',
      ),
    );
  }

  renderDiff(entry) {
    // Re-rendering after an apply or refresh shows the same texts: keep the models, or Monaco's
    // in-flight diff of them would run against disposed models ("no diff result available").
    const key = entry ? JSON.stringify([entry.path, entry.base, entry.proposed]) : null;
    if (key === this.shownDiffKey) return;
    this.shownDiffKey = key;
    const previous = this.models.splice(0);
    if (entry) {
      const language = this.app.files().find((f) => f.path === entry.path)?.language;
      const { monaco } = this.app;
      const original = monaco.editor.createModel(entry.base, language);
      const modified = monaco.editor.createModel(entry.proposed, language);
      this.models.push(original, modified);
      this.diffEditor.setModel({ original, modified });
    } else {
      this.diffEditor.setModel(null);
    }
    // Let a diff computation of the replaced models settle before they go away.
    setTimeout(() => previous.forEach((model) => model.dispose()), 1000);
  }

  renderConflicts(entry) {
    const conflicts = entry?.apply?.conflicts ?? [];
    const message = entry?.apply?.message;
    const open = conflicts.filter((c) => !c.resolution).length;
    this.conflicts.hidden = !conflicts.length && !message;
    this.conflicts.replaceChildren(
      message ? h('p', { class: 'job-error' }, message) : null,
      conflicts.length
        ? h('strong', {}, `${conflicts.length} conflict(s), ${open} open: the live text was kept until you decide.`)
        : null,
      ...conflicts.map((c, index) => this.conflictCard(entry, c, index)),
    );
  }

  conflictCard(entry, conflict, index) {
    const done = conflict.resolution;
    const card = h(
      'div',
      { class: 'jobs-conflict', testid: 'jobs-conflict', 'data-resolved': done ? done.choice : '' },
      h('div', {}, `Line ${conflict.line}: live document`),
      h('pre', {}, conflict.ours || '(nothing)'),
      h('div', {}, "Job's version"),
      h('pre', {}, conflict.theirs || '(nothing)'),
    );
    if (done) {
      card.append(h('div', { class: 'jobs-conflict-done', testid: 'jobs-conflict-done' }, `Resolved by ${done.by}: ${done.note}`));
      return card;
    }
    const editor = h('textarea', { class: 'jobs-conflict-edit', testid: 'jobs-conflict-edit', hidden: true, 'aria-label': 'Edited merge' });
    const save = h('button', { type: 'button', testid: 'jobs-conflict-save', hidden: true, onclick: () => this.resolve(entry, index, 'edit', editor.value) }, 'Save merge');
    const canEdit = this.app.canEdit;
    card.append(
      h(
        'div',
        { class: 'job-actions' },
        h('button', { type: 'button', testid: 'jobs-conflict-theirs', disabled: !canEdit, onclick: () => this.resolve(entry, index, 'theirs') }, "Take the job's"),
        h('button', { type: 'button', testid: 'jobs-conflict-ours', disabled: !canEdit, onclick: () => this.resolve(entry, index, 'ours') }, 'Keep live'),
        h(
          'button',
          {
            type: 'button',
            testid: 'jobs-conflict-edit-open',
            disabled: !canEdit,
            onclick: () => {
              editor.value = conflict.ours + (conflict.ours.endsWith('\n') || !conflict.ours ? '' : '\n') + conflict.theirs;
              editor.hidden = false;
              save.hidden = false;
              editor.focus();
            },
          },
          'Edit the merge',
        ),
        save,
      ),
      editor,
    );
    return card;
  }

  async resolve(entry, index, choice, text) {
    try {
      await this.app.ws.request('jobs.resolve', { job_id: this.job.id, path: entry.path, index, choice, text });
    } catch (error) {
      this.app.toast(`Could not resolve: ${error.message}`, 'error');
    }
    await this.refresh();
  }

  /** Apply what is not applied yet and commit the job's files to the workspace's git repository. */
  async commit() {
    const message = window.prompt('Commit message', `Deep job #${this.job.id}: ${this.job.prompt || this.job.kind}`);
    if (message === null) return;
    try {
      const done = await api('POST', `/api/jobs/${this.job.id}/commit`, { message });
      this.app.toast(`Committed ${done.commit.files.length} file(s) as ${done.commit.commit.slice(0, 10)}`, 'success');
      await this.refresh();
    } catch (error) {
      this.app.toast(`Commit failed: ${error.message}`, 'error', 8000);
    }
  }

  async apply(paths) {
    try {
      const { files } = await this.app.ws.request('jobs.apply', { job_id: this.job.id, paths });
      const conflicted = files.filter((f) => f.status === 'conflict').length;
      this.app.toast(
        conflicted ? `Applied with conflicts in ${conflicted} file(s)` : `Applied ${files.length} file(s)`,
        conflicted ? 'error' : 'success',
      );
      await this.refresh();
    } catch (error) {
      this.app.toast(`Apply failed: ${error.message}`, 'error');
    }
  }
}
