// Repositories in the editor: an "Import / Export" tab (upload an archive or a folder, clone a git URL, into this
// workspace or a new one; download the workspace as a zip), folder drops on the file tree, and the viewer of
// stored files. Server side: workspace/repos (POST /api/workspaces/<id>/import, import.* events).

import { api } from '../editor/http.js';
import { IMPORT_DROP, OPEN_STORED } from '../editor/filetree.js';
import { h } from './dom.js';
import { injectStyles } from './styles.js';
import { tarOf } from './tar.js';
import { upload } from './upload.js';
import { StoredFileViewer } from './viewer.js';

const POLL_MS = 500;
const SHOWN_SKIPPED = 100;

class ReposPanel {
  constructor(app) {
    this.app = app;
    this.workspaceId = app.config.workspace.id;
    this.imports = new Map();
    this.watching = null; // the import this page started (polled, since it may be in a new workspace)
    this.root = app.panels.addTab('repos', 'Import / Export');
    this.status = h('div', { class: 'repos-status', testid: 'repos-status' });
    this.bar = h('div', { style: 'width: 0%' });
    this.progress = h('div', { class: 'repos-bar', testid: 'repos-progress', hidden: true }, this.bar);
    this.summary = h('div', { class: 'repos-summary', testid: 'repos-summary' });
    this.root.append(
      this.exportSection(),
      app.canEdit ? this.importSection() : h('p', { class: 'panel-placeholder' }, 'Viewers can export but not import.'),
      h('section', { class: 'repos-section' }, this.progress, this.status, this.summary),
    );
  }

  exportSection() {
    return h(
      'section',
      { class: 'repos-section' },
      h('h3', {}, 'Export'),
      h(
        'a',
        {
          class: 'repos-button',
          href: `/api/workspaces/${this.workspaceId}/archive`,
          download: '',
          testid: 'repos-export',
        },
        'Download the workspace (.zip)',
      ),
    );
  }

  importSection() {
    this.target = h('select', { testid: 'repos-target', 'aria-label': 'Import into' },
      h('option', { value: 'here' }, 'into this workspace'),
      h('option', { value: 'new' }, 'into a new workspace'));
    this.newName = h('input', { type: 'text', testid: 'repos-new-name', placeholder: 'New workspace name', hidden: true });
    this.target.addEventListener('change', () => {
      this.newName.hidden = this.target.value !== 'new';
    });
    const archive = h('input', { type: 'file', testid: 'repos-archive-input', accept: '.zip,.tar,.tgz,.gz,.bz2,.xz' });
    archive.addEventListener('change', () => {
      const [file] = archive.files;
      archive.value = '';
      if (file) this.importArchive(file, file.name).catch((e) => this.failed(e));
    });
    const folder = h('input', { type: 'file', testid: 'repos-folder-input', webkitdirectory: true, multiple: true });
    folder.addEventListener('change', () => {
      const files = [...folder.files].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
      folder.value = '';
      if (files.length) this.importFiles(files, '').catch((e) => this.failed(e));
    });
    const url = h('input', { type: 'text', testid: 'repos-git-url', placeholder: 'https://… or git@host:owner/repo.git' });
    const ref = h('input', { type: 'text', testid: 'repos-git-ref', placeholder: 'branch or tag (default branch if empty)' });
    const shallow = h('input', { type: 'checkbox', testid: 'repos-git-shallow', checked: true });
    const key = h('textarea', { testid: 'repos-git-key', placeholder: '-----BEGIN OPENSSH PRIVATE KEY-----' });
    const clone = h('button', { type: 'submit', class: 'primary', testid: 'repos-git-clone' }, 'Clone');
    const form = h(
      'form',
      { class: 'repos-section', testid: 'repos-git-form' },
      h('h3', {}, 'Clone a git repository'),
      url,
      ref,
      h('div', { class: 'repos-row' }, h('label', {}, shallow, 'shallow (latest commit only)')),
      h('details', {}, h('summary', {}, 'Deploy key (ssh, private repositories)'), key,
        h('small', {}, 'Kept on the server for this repository and never shown again.')),
      clone,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const body = { git_url: url.value.trim(), ref: ref.value.trim(), shallow: shallow.checked, deploy_key: key.value };
      this.startClone(body)
        .then(() => {
          key.value = '';
        })
        .catch((e) => this.failed(e));
    });
    return h(
      'div',
      {},
      h(
        'section',
        { class: 'repos-section' },
        h('h3', {}, 'Import'),
        h('div', { class: 'repos-row' }, this.target, this.newName),
        h('div', { class: 'repos-row' },
          h('label', { class: 'repos-pick' }, 'Upload an archive…', archive),
          h('label', { class: 'repos-pick' }, 'Upload a folder…', folder)),
        h('small', {}, 'Or drop files and folders on the file tree. Paths that exist are skipped, never overwritten.'),
      ),
      form,
    );
  }

  /** The workspace to import into: this one, or a new empty one made now. */
  async destination() {
    if (!this.target || this.target.value !== 'new') return { id: this.workspaceId, here: true };
    const name = this.newName.value.trim();
    if (!name) throw new Error('Name the new workspace first.');
    const created = await api('POST', '/api/workspaces', { name, empty: true });
    return { id: created.id, here: false };
  }

  async importFiles(files, into) {
    const tops = new Set(files.map((f) => f.path.split('/')[0]));
    const base = tops.size === 1 && files.length > 1 ? [...tops][0] : files.length === 1 ? files[0].path : 'files';
    const archive = new File([tarOf(files)], `${base.replace(/[^\w.-]+/g, '-')}.tar`, { type: 'application/x-tar' });
    await this.importArchive(archive, `${base} (${files.length} file${files.length === 1 ? '' : 's'})`, into);
  }

  async importArchive(file, label, into = '') {
    const target = await this.destination();
    const query = new URLSearchParams({ name: file.name });
    if (into) query.set('into', into);
    this.app.panels.show('repos');
    this.showProgress(0, `Uploading ${label}… 0%`, 'uploading');
    const job = await upload(`/api/workspaces/${target.id}/import?${query}`, file, (fraction) =>
      this.showProgress(fraction, `Uploading ${label}… ${Math.round(fraction * 100)}%`, 'uploading'),
    );
    this.follow(job, target);
  }

  async startClone(body) {
    if (!body.git_url) throw new Error('Give the URL of a git repository.');
    const target = await this.destination();
    this.app.panels.show('repos');
    this.follow(await api('POST', `/api/workspaces/${target.id}/import`, body), target);
  }

  follow(job, target) {
    this.watching = { id: job.id, target };
    this.render(job);
    const poll = async () => {
      if (this.watching?.id !== job.id) return;
      try {
        const now = await api('GET', `/api/imports/${job.id}`);
        this.render(now);
        if (now.status === 'succeeded' || now.status === 'failed') return this.finished(now, target);
      } catch (error) {
        this.failed(error);
        return;
      }
      setTimeout(poll, POLL_MS);
    };
    setTimeout(poll, POLL_MS);
  }

  finished(job, target) {
    this.watching = null;
    if (job.status === 'failed') {
      this.app.toast(`Import failed: ${job.error}`, 'error', 8000);
      return;
    }
    this.app.toast(`Imported ${job.summary.imported} files from ${job.name}.`, 'success');
    if (!target.here) location.assign(`/w/${target.id}/`);
  }

  failed(error) {
    this.showProgress(0, error.message, 'failed');
    this.app.toast(error.message, 'error', 8000);
  }

  showProgress(fraction, text, status) {
    this.progress.hidden = false;
    this.bar.style.width = `${Math.round(fraction * 100)}%`;
    this.status.textContent = text;
    this.status.dataset.status = status;
    this.summary.replaceChildren();
  }

  render(job) {
    this.imports.set(job.id, job);
    if (this.watching && this.watching.id !== job.id) return; // ours first; others' imports once ours is done
    const counts = job.files_total ? ` (${job.files_done}/${job.files_total} files)` : '';
    const text = {
      queued: `Import of ${job.name} queued…`,
      running: `${job.step}${counts}…`,
      succeeded: `Imported ${job.name}.`,
      failed: `Import of ${job.name} failed: ${job.error}`,
    }[job.status];
    this.showProgress(job.status === 'succeeded' ? 1 : job.progress || 0, text, job.status);
    if (job.status === 'succeeded') this.summary.replaceChildren(...this.summaryOf(job));
  }

  summaryOf(job) {
    const s = job.summary || {};
    const parts = [`${s.imported} files imported`, `${s.text} text`, `${s.binary} binary`];
    if (s.readonly) parts.push(`${s.readonly} read-only (too large to edit)`);
    const lines = [h('div', { testid: 'repos-summary-counts' }, `${parts.join(', ')}; ${s.folders} folders.`)];
    if (s.repository) {
      lines.push(h('div', {}, `Repository ${s.repository.remote_url} at ${s.repository.branch} (${s.repository.head_commit.slice(0, 10)}).`));
    }
    if (s.skipped_count) {
      const items = (s.skipped || []).slice(0, SHOWN_SKIPPED).map((item) =>
        h('li', { testid: 'repos-skipped' }, item.path, ' ', h('span', {}, `— ${item.reason}${item.entries ? ` (${item.entries} entries)` : ''}`)),
      );
      const more = s.skipped_count - items.length;
      lines.push(
        h('details', { open: s.skipped_count <= 10 },
          h('summary', {}, `${s.skipped_count} skipped`),
          h('ul', {}, ...items, more > 0 ? h('li', {}, `… and ${more} more`) : null)),
      );
    }
    return lines;
  }

  listen() {
    // Imports started by anyone in this workspace, live.
    this.app.ws.on('import.progress', (message) => this.render(message.import));
    this.app.ws.on('import.finished', (message) => {
      const job = message.import;
      this.render(job);
      if (job.status === 'succeeded' && this.watching?.id !== job.id) {
        this.app.toast(`${job.user || 'Someone'} imported ${job.summary.imported} files from ${job.name}.`, 'info');
      }
    });
  }

  async load() {
    const [latest] = await api('GET', `/api/workspaces/${this.workspaceId}/imports`);
    if (latest && !this.watching) this.render(latest);
  }
}

export default {
  name: 'repos',
  install(app) {
    injectStyles();
    const panel = new ReposPanel(app);
    const viewer = new StoredFileViewer(app);
    panel.listen();
    panel.load().catch(() => {});
    const tree = document.querySelector('[data-testid=file-tree]');
    tree?.addEventListener(OPEN_STORED, (event) => {
      event.preventDefault();
      viewer.show(event.detail).catch((error) => app.toast(error.message, 'error'));
    });
    tree?.addEventListener(IMPORT_DROP, (event) => {
      const { files, into } = event.detail;
      panel.importFiles(files, into).catch((error) => panel.failed(error));
    });
    app.repos = { panel, viewer };
  },
};
