// A read-only Monaco diff of two texts in a host element (left: `oldText`, right: `newText`), with the models it
// owns; `setNew` follows a live text, `dispose` frees the editor and both models. Shared by the Git changes view
// and the History panel.
import { languageForPath } from './languages.js';

export class ReadOnlyDiff {
  constructor(monaco, host, path, oldText, newText) {
    const language = languageForPath(path);
    this.original = monaco.editor.createModel(oldText, language);
    this.modified = monaco.editor.createModel(newText, language);
    this.editor = monaco.editor.createDiffEditor(host, {
      readOnly: true, automaticLayout: true, theme: 'vs-dark', renderSideBySide: true, originalEditable: false,
    });
    this.editor.setModel({ original: this.original, modified: this.modified });
  }

  setNew(text) {
    if (this.modified.getValue() !== text) this.modified.setValue(text);
  }

  dispose() {
    this.editor.setModel(null);
    this.editor.dispose();
    this.original.dispose();
    this.modified.dispose();
  }
}
