// A file's Monaco diff against the last commit: left = HEAD (read-only), right = the live text (follows the open
// document's edits when it is the file open in the editor; otherwise as of when the diff was shown).

import { api } from '../editor/http.js';
import { ReadOnlyDiff } from '../editor/diffview.js';
import { h } from '../repos/dom.js';

export class GitDiff {
  constructor(app, base) {
    this.app = app;
    this.base = base;
    this.root = null;
    this.change = null;
  }

  async show(change) {
    this.close();
    this.change = change;
    const data = await api('GET', `${this.base}/diff?${new URLSearchParams({ path: change.path })}`);
    this.host = h('div', { class: 'git-diff-host', testid: 'git-diff-editor' });
    this.root = h('div', { class: 'git-diff', role: 'dialog', 'aria-label': `Changes of ${change.path}`, testid: 'git-diff' },
      h('div', { class: 'git-diff-head' },
        h('strong', {}, change.path),
        h('small', { class: 'grow' }, 'last commit ← → live'),
        h('button', { type: 'button', testid: 'git-diff-close', onclick: () => this.close() }, 'Close')),
      data.binary ? h('p', { class: 'panel-placeholder' }, 'Binary file: no text diff.') : this.host);
    document.body.append(this.root);
    if (data.binary) return;
    this.view = new ReadOnlyDiff(this.app.monaco, this.host, change.path, data.head ?? '', data.live ?? '');
  }

  liveChanged(file, text) {
    if (this.view && file && file.path === this.change?.path) this.view.setNew(text);
  }

  reload() {
    if (this.change && this.root) this.show(this.change).catch(() => {});
  }

  close() {
    this.view?.dispose();
    this.view = null;
    this.root?.remove();
    this.root = null;
  }
}
