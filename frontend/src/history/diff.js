// A version's read-only Monaco diff: left = the version, right = the live text (or another version). For editors,
// against the live text: "Restore version" and one "Restore hunk" button per changed range (the server merges it
// into the live document as CRDT edits, keeping what others wrote since the diff was taken).

import { api } from '../editor/http.js';
import { ReadOnlyDiff } from '../editor/diffview.js';
import { h } from '../teams/dom.js';

function lines(start, end) {
  if (end <= start) return `after line ${start}`;
  return end - start === 1 ? `line ${start + 1}` : `lines ${start + 1}–${end}`;
}

export class VersionDiff {
  constructor(app, onRestored) {
    this.app = app;
    this.onRestored = onRestored;
    this.root = null;
  }

  async show(file, version, against = null, label = '') {
    this.close();
    const query = against == null ? '' : `?against=${against}`;
    const data = await api('GET', `/api/files/${file.id}/versions/${version}/diff${query}`);
    const live = data.new_id == null;
    const host = h('div', { className: 'history-diff-host', testid: 'history-diff-editor' });
    const hunks = h('div', { className: 'history-hunks', testid: 'history-hunks' });
    const restoreAll = h('button', { type: 'button', testid: 'history-restore-version', hidden: !(live && this.app.canEdit) },
      'Restore version');
    restoreAll.addEventListener('click', () => this.restore(file, version, null, data.live_update_id));
    this.root = h('div', { className: 'history-diff', role: 'dialog', 'aria-label': `History of ${file.path}`, testid: 'history-diff' },
      h('div', { className: 'history-diff-head' },
        h('strong', {}, file.path),
        h('small', { className: 'grow' }, label || (live ? 'version ← → live' : 'version ← → version')),
        restoreAll,
        h('button', { type: 'button', testid: 'history-diff-close', onclick: () => this.close() }, 'Close')),
      h('div', { className: 'history-diff-body' }, host, hunks));
    document.body.append(this.root);
    hunks.append(h('div', {}, data.hunks.length ? `${data.hunks.length} change${data.hunks.length === 1 ? '' : 's'}` : 'No changes'));
    data.hunks.forEach((hunk, index) => {
      const button = h('button', { type: 'button', testid: 'history-restore-hunk', hidden: !(live && this.app.canEdit) },
        'Restore hunk');
      button.addEventListener('click', () => this.restore(file, version, [index], data.live_update_id));
      hunks.append(h('div', { testid: 'history-hunk' }, `Live ${lines(hunk.new_start, hunk.new_end)}`, ' ', button));
    });
    this.view = new ReadOnlyDiff(this.app.monaco, host, file.path, data.old_text, data.new_text);
  }

  async restore(file, version, hunks, liveUpdateId) {
    try {
      const result = await api('POST', `/api/files/${file.id}/versions/${version}/restore`, {
        hunks, live_update_id: liveUpdateId,
      });
      const kept = result.conflicts.length;
      this.app.toast(kept ? `Restored; ${kept} range(s) changed meanwhile were kept as they are` : 'Restored', 'success');
      this.close();
      this.onRestored(result);
    } catch (error) {
      this.app.toast(error.message, 'error');
    }
  }

  close() {
    this.view?.dispose();
    this.view = null;
    this.root?.remove();
    this.root = null;
  }
}
