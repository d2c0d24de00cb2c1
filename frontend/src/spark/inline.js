// Ctrl/Cmd+K: a small prompt box over the selection (replace) or at the cursor (insert).

import { currentSelection, hasSelection } from './selection.js';

export class InlineBox {
  constructor(app, onError) {
    this.app = app;
    this.onError = onError;
    this.visible = false;
    this.node = document.createElement('div');
    this.node.className = 'spark-inline';
    this.node.dataset.testid = 'spark-inline';
    this.input = document.createElement('input');
    this.input.placeholder = 'Ask Spark to write or change code…';
    this.input.dataset.testid = 'spark-inline-input';
    this.hint = document.createElement('span');
    this.hint.className = 'hint';
    this.node.append(this.input, this.hint);
    this.input.addEventListener('keydown', (event) => {
      event.stopPropagation();
      // preventDefault: focus returns to Monaco during this keydown, which must not type the Enter.
      if (event.key === 'Enter') {
        event.preventDefault();
        this.submit();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        this.close();
      }
    });
    this.widget = {
      getId: () => 'spark.inline.widget',
      getDomNode: () => this.node,
      getPosition: () => ({
        position: this.position,
        preference: [app.monaco.editor.ContentWidgetPositionPreference.ABOVE, app.monaco.editor.ContentWidgetPositionPreference.BELOW],
      }),
    };
  }

  open() {
    if (!this.app.canEdit || !this.app.currentFile()) return;
    this.position = this.app.editor.getSelection().getStartPosition();
    this.replace = hasSelection(this.app);
    this.hint.textContent = this.replace ? 'replaces selection · Enter' : 'inserts at cursor · Enter';
    if (!this.visible) this.app.editor.addContentWidget(this.widget);
    else this.app.editor.layoutContentWidget(this.widget);
    this.visible = true;
    this.input.value = '';
    setTimeout(() => this.input.focus(), 0);
  }

  close() {
    if (this.visible) this.app.editor.removeContentWidget(this.widget);
    this.visible = false;
    setTimeout(() => this.app.editor.focus(), 0);
  }

  async submit() {
    const instruction = this.input.value.trim();
    const file = this.app.currentFile();
    if (!instruction || !file) return;
    const selection = currentSelection(this.app);
    this.close();
    try {
      await this.app.ws.request('spark.request', {
        file_id: file.id,
        mode: this.replace ? 'replace' : 'insert',
        instruction,
        selection,
      });
    } catch (error) {
      this.onError(error.message);
    }
  }
}
