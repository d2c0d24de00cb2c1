// Git in the editor: a "Git" tab (initialise a repository, the files changed since the last commit with marks in
// the file tree, a Monaco diff of each against the last commit, commit, push / pull with live progress, branches)
// Server side: workspace/repos (working.py, sync.py, branches.py; /api/workspaces/<id>/git*, git.* events).

import { api } from '../editor/http.js';
import { h } from '../repos/dom.js';
import { GitDiff } from './diff.js';
import { injectStyles } from './styles.js';

const MARK = { added: 'A', modified: 'M', deleted: 'D' };
// How soon after the open document changed the changes view asks again (the server rebuilds the live files for
// it): soon while the Git tab is shown, rarely while it is not (the tree's marks then lag a little).
const REFRESH_SHOWN_MS = 1500;
const REFRESH_HIDDEN_MS = 10000;

class GitPanel {
  constructor(app) {
    this.app = app;
    this.workspaceId = app.config.workspace.id;
    this.base = `/api/workspaces/${this.workspaceId}/git`;
    this.state = { initialised: false, changes: [] };
    this.selected = new Set();
    this.diff = new GitDiff(app, this.base);
    this.root = app.panels.addTab('git', 'Git');
    this.head = h('div', { class: 'git-head', testid: 'git-head' });
    this.list = h('div', { class: 'git-changes', testid: 'git-changes' });
    this.status = h('div', { class: 'git-status', testid: 'git-status' });
    this.conflicts = h('div', { class: 'git-conflicts', testid: 'git-conflicts' });
    this.message = h('textarea', { testid: 'git-message', placeholder: 'Commit message', 'aria-label': 'Commit message' });
    this.commitButton = h('button', { type: 'button', class: 'primary', testid: 'git-commit', onclick: () => this.commit() }, 'Commit');
    this.commitBox = h('div', { class: 'git-commit-box' }, this.message, this.commitButton);
    this.root.append(this.head, this.list, app.canEdit ? this.commitBox : null, this.status, this.conflicts);
  }

  async refresh() {
    this.state = await api('GET', this.base);
    this.render();
  }

  refreshSoon() {
    if (this.timer) return; // at most one request per period, however fast people type
    const delay = this.root.hidden ? REFRESH_HIDDEN_MS : REFRESH_SHOWN_MS;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh().catch(() => {});
    }, delay);
  }

  render() {
    const s = this.state;
    this.markTree();
    if (!s.initialised) {
      this.commitBox.hidden = true;
      this.list.replaceChildren();
      this.head.replaceChildren(...this.initForm());
      return;
    }
    this.commitBox.hidden = false;
    const remote = s.remote_url ? h('small', { testid: 'git-remote' }, s.remote_url) : h('small', {}, 'no remote');
    this.head.replaceChildren(
      h('div', { class: 'git-row' },
        h('span', {}, 'On ', h('strong', { testid: 'git-branch' }, s.branch)),
        h('small', { testid: 'git-head-commit' }, s.head_commit ? s.head_commit.slice(0, 10) : 'no commit yet'),
        remote),
      this.app.canEdit
        ? h('div', { class: 'git-row' },
            h('button', { type: 'button', testid: 'git-pull', disabled: !s.remote_url, onclick: () => this.operation('pull') }, 'Pull'),
            h('button', { type: 'button', testid: 'git-push', disabled: !s.remote_url || !s.head_commit, onclick: () => this.operation('push') }, 'Push'),
            h('button', { type: 'button', testid: 'git-branches', onclick: () => this.branches() }, 'Branches…'),
            s.switch
              ? h('button', { type: 'button', testid: 'git-undo-switch', title: `Switched by ${s.switch.user || 'someone'}`,
                  onclick: () => this.undoSwitch(s.switch) }, `Undo switch to ${s.switch.to_branch}`)
              : null)
        : null,
    );
    const known = new Set(s.changes.map((c) => c.path));
    for (const path of [...this.selected]) if (!known.has(path)) this.selected.delete(path);
    if (!s.changes.length) {
      this.list.replaceChildren(h('p', { class: 'git-clean', testid: 'git-clean' }, 'No changes since the last commit.'));
    } else {
      this.list.replaceChildren(...s.changes.map((change) => this.changeRow(change)));
    }
    this.commitButton.textContent = this.selected.size ? `Commit ${this.selected.size} selected` : 'Commit all';
    this.commitButton.disabled = !s.changes.length;
  }

  changeRow(change) {
    const box = h('input', { type: 'checkbox', testid: 'git-select', 'aria-label': `Select ${change.path}`, checked: this.selected.has(change.path) });
    box.addEventListener('change', () => {
      if (box.checked) this.selected.add(change.path);
      else this.selected.delete(change.path);
      this.render();
    });
    return h('div', { class: 'git-change', testid: 'git-change', 'data-path': change.path, 'data-status': change.status },
      this.app.canEdit ? box : null,
      h('span', { class: `git-mark ${change.status}` }, MARK[change.status]),
      h('button', { type: 'button', class: 'git-open-diff', testid: 'git-open-diff', onclick: () => this.diff.show(change).catch((e) => this.failed(e)) }, change.path));
  }

  initForm() {
    if (!this.app.canEdit) return [h('p', { class: 'panel-placeholder' }, 'This workspace has no git repository.')];
    const remote = h('input', { type: 'text', testid: 'git-init-remote', placeholder: 'Remote URL (optional): https://… or git@host:…' });
    const button = h('button', { type: 'button', class: 'primary', testid: 'git-init' }, 'Initialise git');
    button.addEventListener('click', () =>
      api('POST', `${this.base}/init`, { remote_url: remote.value.trim() })
        .then(() => this.refresh())
        .catch((e) => this.failed(e)));
    return [h('p', {}, 'This workspace has no git repository yet.'), remote, button];
  }

  async commit() {
    const message = this.message.value.trim();
    if (!message) return this.failed(new Error('Write a commit message.'));
    const paths = this.selected.size ? [...this.selected] : null;
    try {
      const done = await api('POST', `${this.base}/commit`, { message, paths });
      this.message.value = '';
      this.selected.clear();
      this.say(`Committed ${done.files.length} file(s) as ${done.commit.slice(0, 10)}.`, 'succeeded');
      this.app.toast(`Committed ${done.commit.slice(0, 10)}`, 'success');
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  async operation(kind) {
    try {
      const operation = await api('POST', `${this.base}/${kind}`);
      this.showOperation(operation);
    } catch (error) {
      this.failed(error);
    }
  }

  showOperation(operation) {
    const what = operation.kind === 'push' ? 'Push' : 'Pull';
    if (operation.status === 'failed') return this.say(`${what} failed: ${operation.error}`, 'failed');
    if (operation.status !== 'succeeded') return this.say(`${what}: ${operation.step}…`, 'running');
    const result = operation.result || {};
    if (operation.kind === 'push') return this.say(`Pushed ${result.commit.slice(0, 10)} to ${result.branch}.`, 'succeeded');
    if (result.up_to_date) return this.say('Already up to date.', 'succeeded');
    const conflicts = (result.files || []).filter((f) => f.status === 'conflict');
    this.showConflicts(conflicts);
    this.say(`Pulled ${result.commit.slice(0, 10)}: ${(result.files || []).length} file(s)` +
      (conflicts.length ? `; conflicts (live text kept) in ${conflicts.map((f) => f.path).join(', ')}` : '.'),
      conflicts.length ? 'conflict' : 'succeeded');
  }

  /** What a pull did not bring in: per file, the remote's lines where the live text was kept (or why). */
  showConflicts(files) {
    this.conflicts.replaceChildren(...files.map((file) =>
      h('details', { class: 'git-conflict', testid: 'git-conflict', 'data-path': file.path, open: true },
        h('summary', {}, `${file.path}: ${file.message || 'the live text was kept where both sides changed'}`),
        ...(file.conflicts || []).map((c) =>
          h('div', {},
            h('small', {}, `line ${c.line} — live (kept):`), h('pre', {}, c.ours || '(nothing)'),
            h('small', {}, 'remote (not applied):'), h('pre', { testid: 'git-conflict-theirs' }, c.theirs || '(nothing)'))))));
  }

  async branches() {
    const info = await api('GET', `${this.base}/branches`).catch((e) => this.failed(e));
    if (!info) return;
    const others = info.branches.filter((b) => b !== info.current);
    const name = window.prompt(
      `Current branch: ${info.current}. Branches: ${info.branches.join(', ')}.\n` +
      'Type a branch name to switch to it, or a new name to create it at the last commit:', others[0] || '');
    if (!name) return;
    try {
      if (!info.branches.includes(name)) {
        await api('POST', `${this.base}/branches`, { name });
        this.say(`Created branch ${name}.`, 'succeeded');
        return;
      }
      const done = await this.confirmed(`${this.base}/switch`, { name }, `Switch the workspace to ${name}?`);
      if (!done) return;
      this.say(`Switched to ${done.branch}. "Undo switch" brings the files back as they were.`, 'succeeded');
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  async undoSwitch(info) {
    try {
      const done = await this.confirmed(`${this.base}/switch/undo`, { switch_id: info.id },
        `Undo the switch to ${info.to_branch} (back to ${info.from_branch} and the files as they were)?`);
      if (!done) return;
      this.say(`Back on ${done.branch}.`, 'succeeded');
      await this.refresh();
    } catch (error) {
      this.failed(error);
    }
  }

  /** A switch (or its undo): when others are editing the server answers 409 naming them; ask, then confirm. */
  async confirmed(url, body, question) {
    try {
      return await api('POST', url, body);
    } catch (error) {
      if (error.status !== 409) throw error;
      const names = error.data.editing || [];
      if (!window.confirm(`${question} The files change for everyone. Editing now: ${names.join(', ')}.`)) return null;
      return api('POST', url, { ...body, confirm: true });
    }
  }

  markTree() {
    const marks = new Map(this.state.changes.map((c) => [c.path, c.status]));
    for (const row of document.querySelectorAll('.tree-row[data-path]')) {
      const status = marks.get(row.dataset.path);
      if (status) row.dataset.git = status;
      else delete row.dataset.git;
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

  listen() {
    const ws = this.app.ws;
    ws.on('git.changed', () => this.refresh().catch(() => {}));
    ws.on('git.progress', (m) => this.showOperation(m.operation));
    ws.on('git.finished', (m) => {
      this.showOperation(m.operation);
      this.refresh().catch(() => {});
      this.diff.reload();
    });
    this.app.on('files-changed', () => this.refreshSoon());
    // Shown again: what it lists may be up to REFRESH_HIDDEN_MS old.
    document.querySelector('[data-testid=panel-tab-git]')?.addEventListener('click', () => this.refresh().catch(() => {}));
    // Typing changes what differs from the last commit: the open document's edits (anyone's) refresh the view.
    const watchOpenDoc = () =>
      this.app.getDoc()?.on('update', () => {
        this.refreshSoon();
        this.diff.liveChanged(this.app.currentFile(), this.app.getText());
      });
    this.app.on('file-opened', watchOpenDoc);
    watchOpenDoc(); // the first file opened before the plugins were installed
  }
}

export default {
  name: 'git',
  install(app) {
    injectStyles();
    const panel = new GitPanel(app);
    panel.listen();
    panel.refresh().catch(() => {});
    app.git = panel;
  },
};
