// The bar over the editor while Spark writes into the open file: live figures, Stop, then Accept / Reject (all
// hunks), the region's thread of instructions, a follow-up box (refine in place) and "Take this to Deep".

import { figures } from './state.js';

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  if (props.testid) node.dataset.testid = props.testid;
  node.append(...children);
  return node;
}

export class SparkBar {
  constructor(app, state, actions) {
    this.app = app;
    this.state = state;
    this.actions = actions;
    this.node = el('div', { className: 'spark-bar', testid: 'spark-bar', hidden: true });
    this.label = el('strong');
    this.figures = el('span', { className: 'figures', testid: 'spark-figures' });
    this.error = el('span', { className: 'error', testid: 'spark-error' });
    this.stop = this.button('Stop', 'spark-stop', () => this.control('spark.cancel'));
    this.accept = this.button('Accept', 'spark-accept', () => this.control('spark.accept'));
    this.reject = this.button('Reject', 'spark-reject', () => this.control('spark.reject'));
    this.deep = this.button('Take this to Deep', 'spark-handover', () => this.actions.handover(this.entry));
    this.dismiss = this.button('Dismiss', 'spark-dismiss', () => {
      this.entry.dismissed = true;
      this.render();
    });
    this.thread = el('ol', { className: 'thread', testid: 'spark-thread' });
    this.followUp = el('input', { placeholder: 'Follow up: "simpler", "handle None"… (Enter)', testid: 'spark-refine-input' });
    this.followUp.addEventListener('keydown', (event) => {
      event.stopPropagation();
      if (event.key === 'Enter' && this.followUp.value.trim()) {
        event.preventDefault();
        const instruction = this.followUp.value.trim();
        this.followUp.value = '';
        this.actions.refine(this.entry, instruction);
      }
    });
    const row = el('div', { className: 'row' }, [
      this.label,
      this.figures,
      this.error,
      this.stop,
      this.accept,
      this.reject,
      this.deep,
      this.dismiss,
    ]);
    this.node.append(row, this.thread, this.followUp);
    app.editor.getContainerDomNode().append(this.node); // getDomNode() is null until a model is set (an empty workspace)
    state.on('change', () => this.render());
    app.on('file-opened', () => this.render());
  }

  button(text, testid, onClick) {
    const button = el('button', { type: 'button', textContent: text, testid });
    button.addEventListener('click', () => this.entry && onClick());
    return button;
  }

  control(action) {
    this.app.ws.request(action, { id: this.entry.id }).catch((error) => this.app.toast(error.message, 'error'));
  }

  render() {
    const file = this.app.currentFile();
    const entry = file ? this.state.activeFor(file.id) : null;
    this.entry = entry;
    this.node.hidden = !entry;
    if (!entry) return;
    const streaming = entry.status === 'streaming';
    const offer = !streaming && !entry.pending; // the model said this needs Deep mode: nothing to accept
    const hunks = entry.hunks ?? [];
    const decided = hunks.filter((h) => h.state).length;
    this.node.dataset.status = entry.status;
    this.node.dataset.requestId = entry.id;
    const count = hunks.length > 1 ? ` · ${hunks.length - decided} of ${hunks.length} hunks to review` : '';
    this.label.textContent = offer ? '⚡ Spark suggests Deep mode' : `⚡ Spark ${streaming ? 'writing…' : entry.status}${count}`;
    this.figures.textContent = figures(entry);
    this.error.textContent = entry.error || '';
    const edit = this.app.canEdit;
    this.stop.hidden = !streaming || !edit;
    this.accept.hidden = streaming || offer || !edit;
    this.reject.hidden = streaming || offer || !edit;
    this.dismiss.hidden = !offer;
    this.accept.textContent = hunks.length > 1 ? 'Accept all' : 'Accept';
    this.reject.textContent = hunks.length > 1 ? 'Reject all' : 'Reject';
    this.deep.hidden = !edit;
    this.followUp.hidden = streaming || offer || !edit;
    const steps = entry.thread ?? (entry.instruction ? [{ id: entry.id, instruction: entry.instruction }] : []);
    this.thread.hidden = steps.length === 0;
    this.thread.replaceChildren(...steps.map((step) => el('li', { textContent: step.instruction })));
  }
}
