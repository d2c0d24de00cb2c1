// Inline review of a pending Spark edit in the open file: its region is highlighted (also when no AI cursor is
// left, e.g. after a server restart), and an edit of several hunks shows each one as a diff — the old lines in a
// zone above, the new lines marked — with Accept / Reject per hunk.

import * as Y from 'yjs';

function absolute(doc, json) {
  if (!json) return null;
  const position = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), doc);
  return position ? position.index : null;
}

export class HunkReview {
  constructor(app, state) {
    this.app = app;
    this.state = state;
    this.decorations = app.editor.createDecorationsCollection();
    this.zones = [];
    this.widgets = [];
    this.scheduled = false;
    state.on('change', () => this.schedule());
    app.on('file-opened', () => {
      app.editor.getModel()?.onDidChangeContent(() => this.schedule());
      this.schedule();
    });
    app.on('file-closed', () => this.clear());
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  clear() {
    this.decorations.clear();
    const { editor } = this.app;
    editor.changeViewZones((accessor) => {
      for (const id of this.zones) accessor.removeZone(id);
    });
    this.zones = [];
    for (const widget of this.widgets) editor.removeContentWidget(widget);
    this.widgets = [];
  }

  render() {
    this.clear();
    const file = this.app.currentFile();
    const doc = this.app.getDoc();
    const model = this.app.editor.getModel();
    const entry = file ? this.state.activeFor(file.id) : null;
    if (!entry || !doc || !model || entry.status === 'streaming') return;
    const { monaco } = this.app;
    const range = (start, end) => {
      const from = model.getPositionAt(start);
      const to = model.getPositionAt(Math.max(start, end));
      return new monaco.Range(from.lineNumber, from.column, to.lineNumber, to.column);
    };
    const marks = [];
    const region = entry.region && [absolute(doc, entry.region.start), absolute(doc, entry.region.end)];
    if (region && region[0] != null && region[1] != null) {
      marks.push({ range: range(region[0], region[1]), options: { className: 'spark-pending-region', stickiness: 1 } });
    }
    const hunks = (entry.hunks ?? []).filter((h) => !h.state);
    if ((entry.hunks ?? []).length > 1) {
      for (const hunk of hunks) {
        const start = absolute(doc, hunk.start);
        const end = absolute(doc, hunk.end);
        if (start == null || end == null) continue;
        const span = range(start, end);
        marks.push({ range: span, options: { isWholeLine: true, className: 'spark-hunk-new' } });
        this.addOldLines(span.startLineNumber, hunk);
        this.addButtons(entry, hunk, span.startLineNumber);
      }
    }
    this.decorations.set(marks);
  }

  addOldLines(lineNumber, hunk) {
    if (!hunk.old) return;
    const node = document.createElement('div');
    node.className = 'spark-hunk-old';
    node.dataset.testid = 'spark-hunk-old';
    node.textContent = hunk.old.replace(/\n$/, '');
    const heightInLines = hunk.old.replace(/\n$/, '').split('\n').length;
    this.app.editor.changeViewZones((accessor) => {
      this.zones.push(accessor.addZone({ afterLineNumber: lineNumber - 1, heightInLines, domNode: node }));
    });
  }

  addButtons(entry, hunk, lineNumber) {
    if (!this.app.canEdit) return;
    const node = document.createElement('div');
    node.className = 'spark-hunk-actions';
    node.dataset.testid = `spark-hunk-${hunk.index}`;
    for (const [label, action] of [
      ['Accept hunk', 'accept'],
      ['Reject hunk', 'reject'],
    ]) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.dataset.testid = `spark-hunk-${action}`;
      button.addEventListener('mousedown', (event) => event.preventDefault());
      button.addEventListener('click', () =>
        this.app.ws
          .request('spark.hunks', { id: entry.id, action, hunks: [hunk.index] })
          .catch((error) => this.app.toast(error.message, 'error')),
      );
      node.append(button);
    }
    const widget = {
      getId: () => `spark.hunk.${entry.id}.${hunk.index}`,
      getDomNode: () => node,
      // At the end of the hunk's first line, so it covers no text.
      getPosition: () => ({
        position: { lineNumber, column: this.app.editor.getModel()?.getLineMaxColumn(lineNumber) ?? 1 },
        preference: [this.app.monaco.editor.ContentWidgetPositionPreference.EXACT],
      }),
    };
    this.app.editor.addContentWidget(widget);
    this.widgets.push(widget);
  }
}
