// The editor selection as Spark wants it: UTF-16 offsets plus Yjs relative positions (robust to concurrent edits).

import * as Y from 'yjs';

export function currentSelection(app) {
  const model = app.editor.getModel();
  const range = app.editor.getSelection();
  if (!model || !range) return { start: 0, end: 0 };
  const start = model.getOffsetAt(range.getStartPosition());
  const end = model.getOffsetAt(range.getEndPosition());
  const selection = { start, end };
  const ytext = app.getDoc()?.getText('content');
  if (ytext) {
    selection.anchor = JSON.parse(JSON.stringify(Y.createRelativePositionFromTypeIndex(ytext, start)));
    selection.head = JSON.parse(JSON.stringify(Y.createRelativePositionFromTypeIndex(ytext, end)));
  }
  return selection;
}

export function hasSelection(app) {
  const range = app.editor.getSelection();
  return Boolean(range && !range.isEmpty());
}
