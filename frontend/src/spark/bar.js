// The bar over the editor while Spark writes into the open file: live figures, Stop, then Accept / Reject.

import { figures } from './state.js';

export class SparkBar {
  constructor(app, state) {
    this.app = app;
    this.state = state;
    this.node = document.createElement('div');
    this.node.className = 'spark-bar';
    this.node.dataset.testid = 'spark-bar';
    this.node.hidden = true;
    this.label = document.createElement('strong');
    this.figures = document.createElement('span');
    this.figures.className = 'figures';
    this.figures.dataset.testid = 'spark-figures';
    this.error = document.createElement('span');
    this.error.className = 'error';
    this.error.dataset.testid = 'spark-error';
    this.stop = this.button('Stop', 'spark-stop', 'spark.cancel');
    this.accept = this.button('Accept', 'spark-accept', 'spark.accept');
    this.reject = this.button('Reject', 'spark-reject', 'spark.reject');
    this.node.append(this.label, this.figures, this.error, this.stop, this.accept, this.reject);
    app.editor.getContainerDomNode().append(this.node); // getDomNode() is null until a model is set (an empty workspace)
    state.on('change', () => this.render());
    app.on('file-opened', () => this.render());
  }

  button(text, testid, action) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = text;
    button.dataset.testid = testid;
    button.addEventListener('click', () => {
      if (!this.entry) return;
      this.app.ws.request(action, { id: this.entry.id }).catch((error) => this.app.toast(error.message, 'error'));
    });
    return button;
  }

  render() {
    const file = this.app.currentFile();
    const entry = file ? this.state.activeFor(file.id) : null;
    this.entry = entry;
    this.node.hidden = !entry;
    if (!entry) return;
    const streaming = entry.status === 'streaming';
    this.node.dataset.status = entry.status;
    this.label.textContent = `⚡ Spark ${streaming ? 'writing…' : entry.status}`;
    this.figures.textContent = figures(entry);
    this.error.textContent = entry.error || '';
    this.stop.hidden = !streaming || !this.app.canEdit;
    this.accept.hidden = streaming || !this.app.canEdit;
    this.reject.hidden = streaming || !this.app.canEdit;
  }
}
