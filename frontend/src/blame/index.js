// The "Blame" tab: a toggle for the blame gutter (each line's author: a person, or "Spark · model", and when;
// hover for the request's prompt and a link to its history entry), the open file's authorship summary, and,
// for editors, "Mark AI lines reviewed". Everything comes from GET /api/files/<id>/blame (server-side CRDT data).

import { followOpenDocument } from '../editor/follow.js';
import { api } from '../editor/http.js';
import { h } from '../teams/dom.js';

const REFRESH_MS = 1500;
const STYLE = `
.blame-panel { padding: 8px; font-size: 13px; }
.blame-label { opacity: 0.85; font-size: 11px; margin-right: 1ch; padding: 0 4px; border-left: 3px solid var(--blame-color); }
.blame-unreviewed { background: rgba(255, 170, 0, 0.10); }
.blame-share { display: flex; gap: 6px; align-items: center; }
.blame-share i { width: 10px; height: 10px; display: inline-block; }
`;

function colorOf(author) {
  const key = `${author.kind}:${author.user_id ?? ''}:${author.model}`;
  let hash = 0;
  for (const char of key) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 65% 55%)`;
}

function timeText(epochSeconds) {
  if (!epochSeconds) return '';
  const when = new Date(epochSeconds * 1000);
  const today = when.toDateString() === new Date().toDateString();
  return today ? when.toLocaleTimeString([], { timeStyle: 'short' }) : when.toLocaleDateString([], { dateStyle: 'short' });
}

// Monaco cuts injected text at 50 characters: a long name is shortened so the time and the mark stay visible.
function labelOf(author, unreviewed) {
  const name = author.name.length > 24 ? `${author.name.slice(0, 23)}…` : author.name;
  return `${name} ${timeText(author.at)}${unreviewed ? ' · unreviewed' : ''}`;
}

function hoverOf(author, unreviewed) {
  const when = author.at ? new Date(author.at * 1000).toLocaleString() : '';
  const lines = [`**${author.name}** · ${when}`];
  if (unreviewed) lines.push('AI-written, unreviewed');
  if (author.prompt) lines.push(`Prompt: ${author.prompt.replace(/[\\`*_[\]<>]/g, '\\$&')}`);
  if (author.link) lines.push(`[Open its history entry](${author.link})`);
  return { value: lines.join('\n\n') };
}

export default {
  name: 'blame',
  install(app) {
    document.head.append(h('style', {}, STYLE));
    const root = app.panels.addTab('blame', 'Blame');
    root.classList.add('blame-panel');
    const toggle = h('input', { type: 'checkbox', testid: 'blame-toggle' });
    const summary = h('div', { testid: 'blame-summary' });
    const review = h('button', { type: 'button', testid: 'blame-review', hidden: !app.canEdit }, 'Mark AI lines reviewed');
    root.append(h('label', {}, toggle, ' Blame gutter'), summary, review);
    const decorations = app.editor.createDecorationsCollection([]);

    function render(blame) {
      const counts = new Map();
      const items = [];
      blame.lines.forEach((index, line) => {
        if (index < 0) return;
        const author = blame.authors[index];
        // One entry per person or model (an author's edits of different minutes are separate origins).
        const key = `${author.kind}|${author.user_id ?? ''}|${author.name}`;
        counts.set(key, { author, lines: (counts.get(key)?.lines || 0) + 1 });
        const unreviewed = blame.unreviewed[line];
        const range = new app.monaco.Range(line + 1, 1, line + 1, 1);
        items.push({
          range,
          options: { isWholeLine: true, className: unreviewed ? 'blame-unreviewed' : undefined, hoverMessage: hoverOf(author, unreviewed) },
        });
        items.push({
          range: new app.monaco.Range(line + 1, 1, line + 1, app.editor.getModel()?.getLineMaxColumn(line + 1) ?? 1),
          options: {
            showIfCollapsed: true,
            before: {
              content: labelOf(author, unreviewed),
              inlineClassName: `blame-label blame-author-${index}`,
            },
          },
        });
      });
      decorations.set(toggle.checked ? items : []);
      const colours = blame.authors.map((a, i) => `.blame-author-${i} { --blame-color: ${colorOf(a)}; }`).join('\n');
      summary.replaceChildren(
        h('style', {}, colours),
        ...[...counts.values()].map(({ author, lines }) =>
          h(
            'div',
            { className: 'blame-share', testid: 'blame-author' },
            h('i', { style: `background: ${colorOf(author)}` }),
            `${author.name}: ${lines} line${lines === 1 ? '' : 's'}`,
          ),
        ),
        h('div', { testid: 'blame-unreviewed-count' }, `AI-written, unreviewed: ${blame.unreviewed.filter(Boolean).length}`),
      );
    }

    async function refresh() {
      const file = app.currentFile();
      if (!file) {
        decorations.set([]);
        summary.replaceChildren();
        return;
      }
      try {
        const blame = await api('GET', `/api/files/${file.id}/blame`);
        if (app.currentFile()?.id === file.id) render(blame);
      } catch (error) {
        summary.replaceChildren(h('p', {}, error.message));
      }
    }

    const following = followOpenDocument(app, refresh, REFRESH_MS);

    toggle.addEventListener('change', refresh);
    review.addEventListener('click', async () => {
      const file = app.currentFile();
      if (!file) return;
      try {
        await api('POST', `/api/files/${file.id}/blame/review`, {});
        await refresh();
      } catch (error) {
        app.toast(error.message, 'error');
      }
    });
    app.on('file-opened', () => {
      following.follow();
      refresh();
    });
    app.on('file-closed', () => {
      following.stop();
      decorations.clear();
    });
    following.follow();
    refresh();
  },
};
