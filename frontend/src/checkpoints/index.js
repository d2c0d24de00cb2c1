// Checkpoints in the editor: a "Checkpoints" tab listing the workspace's checkpoints (automatic ones with their
// reason), "Create checkpoint" with a name, Restore of the whole workspace or of the open file (after a
// confirmation; the restore itself is undoable by restoring the automatic checkpoint it takes first), each
// checkpoint's files with what differs now, and the deleted files with Restore.
// Server side: workspace/collab (checkpoints.py, tombstones.py; /api/.../checkpoints, /api/.../deleted-files,
// the checkpoints.changed event).

import { api } from '../editor/http.js';
import { h } from '../repos/dom.js';
import { injectStyles } from './styles.js';

function when(iso) {
  return new Date(iso).toLocaleString();
}

class CheckpointsPanel {
  constructor(app) {
    this.app = app;
    this.workspaceId = app.config.workspace.id;
    this.root = app.panels.addTab('checkpoints', 'Checkpoints');
    this.name = h('input', { type: 'text', testid: 'checkpoint-name', placeholder: 'Checkpoint name', 'aria-label': 'Checkpoint name' });
    const create = h('button', { type: 'button', class: 'primary', testid: 'checkpoint-create', onclick: () => this.create() }, 'Create checkpoint');
    this.name.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.create(); });
    this.status = h('div', { class: 'cp-status', testid: 'checkpoint-status' });
    this.list = h('div', { class: 'cp-list', testid: 'checkpoint-list' });
    this.deleted = h('div', { class: 'cp-deleted', testid: 'deleted-files' });
    this.root.append(
      app.canEdit ? h('div', { class: 'cp-create' }, this.name, create) : null,
      this.status,
      h('div', { class: 'cp-heading' }, 'Checkpoints'), this.list,
      h('div', { class: 'cp-heading' }, 'Deleted files'), this.deleted);
  }

  async refresh() {
    const [checkpoints, deleted] = await Promise.all([
      api('GET', `/api/workspaces/${this.workspaceId}/checkpoints`),
      api('GET', `/api/workspaces/${this.workspaceId}/deleted-files`),
    ]);
    this.list.replaceChildren(...(checkpoints.length ? checkpoints.map((c) => this.item(c))
      : [h('p', { class: 'cp-empty', testid: 'checkpoints-empty' }, 'No checkpoints yet.')]));
    this.deleted.replaceChildren(...(deleted.length ? deleted.map((d) => this.deletedItem(d))
      : [h('p', { class: 'cp-empty', testid: 'deleted-files-empty' }, 'No deleted files.')]));
  }

  item(checkpoint) {
    const auto = checkpoint.kind === 'auto';
    const files = h('ul', { class: 'cp-files', testid: 'checkpoint-files', hidden: true });
    const canEdit = this.app.canEdit;
    return h('div', { class: 'cp-item', testid: 'checkpoint', 'data-id': checkpoint.id, 'data-kind': checkpoint.kind },
      h('div', { class: 'cp-title', testid: 'checkpoint-title' }, auto ? `Auto: ${checkpoint.reason}` : checkpoint.name),
      h('div', { class: 'cp-meta' }, `${when(checkpoint.created_at)}${checkpoint.created_by ? ` · ${checkpoint.created_by}` : ''}`),
      h('div', { class: 'cp-actions' },
        h('button', { type: 'button', testid: 'checkpoint-show', onclick: () => this.showFiles(checkpoint, files) }, 'Files'),
        canEdit ? h('button', { type: 'button', testid: 'checkpoint-restore', onclick: () => this.restore(checkpoint, null) }, 'Restore') : null,
        canEdit ? h('button', { type: 'button', testid: 'checkpoint-restore-file', onclick: () => this.restoreOpenFile(checkpoint) }, 'Restore current file') : null,
        this.app.config.role === 'owner' && !auto
          ? h('button', { type: 'button', testid: 'checkpoint-delete', onclick: () => this.remove(checkpoint) }, 'Delete') : null),
      files);
  }

  deletedItem(deleted) {
    return h('div', { class: 'cp-item', testid: 'deleted-file', 'data-path': deleted.path },
      h('div', { class: 'cp-title' }, deleted.path),
      h('div', { class: 'cp-meta' }, `deleted ${when(deleted.deleted_at)}${deleted.deleted_by ? ` by ${deleted.deleted_by}` : ''}` +
        (deleted.path_taken ? ' · its path is taken now' : '')),
      this.app.canEdit
        ? h('div', { class: 'cp-actions' },
            h('button', { type: 'button', testid: 'deleted-file-restore', onclick: () => this.restoreDeleted(deleted) }, 'Restore'))
        : null);
  }

  async create() {
    const name = this.name.value.trim();
    if (!name) return this.failed(new Error('Name the checkpoint.'));
    try {
      await api('POST', `/api/workspaces/${this.workspaceId}/checkpoints`, { name });
      this.name.value = '';
      this.say(`Checkpoint “${name}” created.`, 'succeeded');
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  async showFiles(checkpoint, list) {
    if (!list.hidden) { list.hidden = true; return; }
    try {
      const shown = await api('GET', `/api/checkpoints/${checkpoint.id}`);
      list.replaceChildren(
        ...shown.files.map((f) => h('li', { 'data-state': f.state, 'data-path': f.path }, `${f.path}${f.state === 'same' ? '' : ` (${f.state} now)`}`)),
        ...shown.created_since.map((p) => h('li', { 'data-state': 'created' }, `${p} (created since)`)));
      list.hidden = false;
    } catch (error) {
      this.failed(error);
    }
  }

  restoreOpenFile(checkpoint) {
    const file = this.app.currentFile();
    if (!file) return this.failed(new Error('Open the file to restore first.'));
    return this.restore(checkpoint, file.path);
  }

  async restore(checkpoint, path) {
    const label = checkpoint.kind === 'auto' ? checkpoint.reason : `“${checkpoint.name}”`;
    const what = path ? `${path} as it was at checkpoint ${label}` : `the whole workspace to checkpoint ${label}`;
    if (!window.confirm(`Restore ${what}? The files change for everyone; an automatic checkpoint is taken first so you can undo it.`)) return;
    try {
      const done = await api('POST', `/api/checkpoints/${checkpoint.id}/restore`, { path });
      const conflicts = done.files.filter((f) => f.status === 'conflict');
      let text = `Restored ${done.files.length - conflicts.length} file(s)` + (done.unchanged ? `, ${done.unchanged} already the same` : '') + '.';
      if (conflicts.length) text += `\nKept the live text where it was edited meanwhile: ${conflicts.map((f) => f.path).join(', ')}.`;
      if (done.created_since.length) text += `\nCreated since and left alone: ${done.created_since.join(', ')}.`;
      text += `\nUndo: restore the automatic checkpoint #${done.undo_checkpoint}.`;
      this.say(text, conflicts.length ? 'conflict' : 'succeeded');
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  async restoreDeleted(deleted) {
    let path = null;
    if (deleted.path_taken) {
      path = window.prompt(`${deleted.path} exists now. Restore the deleted file at:`, `${deleted.path}.restored`);
      if (!path) return;
    }
    try {
      const node = await api('POST', `/api/deleted-files/${deleted.id}/restore`, { path });
      this.say(`Restored ${node.path}.`, 'succeeded');
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  async remove(checkpoint) {
    if (!window.confirm(`Delete checkpoint “${checkpoint.name}”?`)) return;
    try {
      await api('DELETE', `/api/checkpoints/${checkpoint.id}`);
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  say(text, status) {
    this.status.textContent = text;
    this.status.dataset.status = status;
  }

  failed(error) {
    this.say(error.message, 'failed');
    this.app.toast(error.message, 'error', 8000);
  }
}

export default {
  name: 'checkpoints',
  install(app) {
    injectStyles();
    const panel = new CheckpointsPanel(app);
    let timer = null;
    const soon = () => {
      clearTimeout(timer);
      timer = setTimeout(() => panel.refresh().catch(() => {}), 200);
    };
    app.ws.on('checkpoints.changed', soon);
    app.on('files-changed', soon);
    panel.refresh().catch(() => {});
    app.checkpoints = panel;
  },
};
