// The "History" tab: the open file's timeline (one version per editing session, newest first, with who took part
// and lines added / deleted), a read-only Monaco diff of a version against the live text or of two ticked
// versions, Restore (whole version or one hunk) for editors, and the file's latest restores with "Undo restore".
// Everything comes from /api/files/<id>/versions (server-side: collab.versions, timeline.history).

import { followOpenDocument } from '../editor/follow.js';
import { api } from '../editor/http.js';
import { h } from '../teams/dom.js';
import { VersionDiff } from './diff.js';
import { STYLE } from './styles.js';

const REFRESH_MS = 2000;

function when(epochSeconds) {
  const date = new Date(epochSeconds * 1000);
  const today = date.toDateString() === new Date().toDateString();
  return today ? date.toLocaleTimeString([], { timeStyle: 'short' }) : date.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

function span(version) {
  const start = when(version.started_at);
  const end = when(version.ended_at);
  return start === end ? end : `${start} – ${end}`;
}

function names(version) {
  return version.participants.length ? version.participants.map((p) => p.name).join(', ') : 'before history';
}

export default {
  name: 'history',
  install(app) {
    document.head.append(h('style', {}, STYLE));
    const root = app.panels.addTab('history', 'History');
    root.classList.add('history-panel');
    const compare = h('button', { type: 'button', testid: 'history-compare', disabled: true }, 'Compare ticked');
    const list = h('ul', { className: 'history-list', testid: 'history-versions' });
    const restores = h('ul', { className: 'history-restores', testid: 'history-restores' });
    root.append(h('div', { className: 'history-row' }, h('h3', { className: 'grow' }, 'Versions'), compare), list,
      h('h3', {}, 'Restores'), restores);
    const ticked = new Set();
    let versions = [];
    const diff = new VersionDiff(app, () => refresh());

    function versionItem(version, index) {
      const tick = h('input', { type: 'checkbox', 'aria-label': 'tick to compare', checked: ticked.has(version.id) });
      tick.addEventListener('change', () => {
        if (tick.checked) ticked.add(version.id); else ticked.delete(version.id);
        compare.disabled = ticked.size !== 2;
      });
      const open = h('button', { type: 'button', testid: 'history-open', title: 'Diff with the live text' }, 'Diff');
      open.addEventListener('click', () => openDiff(version.id, null, `${span(version)} ← → live`));
      return h('li', { className: `history-version${version.compacted ? '' : ' live-log'}`, testid: 'history-version',
        'data-version-id': version.id },
      h('div', { className: 'history-row' }, tick, h('span', { className: 'history-when' }, span(version)),
        h('span', { className: 'history-counts' }, `+${version.lines_added} −${version.lines_deleted}`),
        index === 0 ? h('small', {}, '(latest)') : null, h('span', { className: 'grow' }), open),
      h('div', { className: 'history-who', testid: 'history-participants' }, names(version)));
    }

    function restoreItem(record) {
      const undo = h('button', { type: 'button', testid: 'history-undo', hidden: record.undone || !app.canEdit }, 'Undo restore');
      undo.addEventListener('click', async () => {
        const file = app.currentFile();
        try {
          const result = await api('POST', `/api/files/${file.id}/restores/${record.id}/undo`);
          app.toast(result.conflicts.length ? 'Undone; lines changed since were kept' : 'Restore undone', 'success');
        } catch (error) {
          app.toast(error.message, 'error');
        }
        refresh();
      });
      const what = record.whole ? 'version' : 'hunk';
      return h('li', { testid: 'history-restore' },
        `${record.user} restored a ${what} at ${when(record.at)}${record.undone ? ' (undone)' : ''} `, undo);
    }

    async function openDiff(version, against, label) {
      const file = app.currentFile();
      if (!file) return;
      try {
        await diff.show(file, version, against, label);
      } catch (error) {
        app.toast(error.message, 'error');
      }
    }

    compare.addEventListener('click', () => {
      const [newer, older] = versions.filter((v) => ticked.has(v.id)).map((v) => v.id);
      if (older != null) openDiff(older, newer, 'version ← → version');
    });

    async function refresh() {
      const file = app.currentFile();
      if (!file) {
        list.replaceChildren();
        restores.replaceChildren();
        return;
      }
      try {
        const data = await api('GET', `/api/files/${file.id}/versions`);
        if (app.currentFile()?.id !== file.id) return;
        versions = data.versions;
        for (const id of [...ticked]) if (!versions.some((v) => v.id === id)) ticked.delete(id);
        compare.disabled = ticked.size !== 2;
        list.replaceChildren(...versions.map(versionItem));
        restores.replaceChildren(...(data.restores.length ? data.restores.map(restoreItem) : [h('li', {}, 'None yet')]));
      } catch (error) {
        list.replaceChildren(h('li', {}, error.message));
      }
    }

    const following = followOpenDocument(app, refresh, REFRESH_MS);

    app.on('file-opened', () => {
      ticked.clear();
      diff.close();
      following.follow();
      refresh();
    });
    app.on('file-closed', () => {
      following.stop();
      diff.close();
    });
    following.follow();
    refresh();
  },
};
