// Ctrl/Cmd+K: a small prompt box over the selection (replace) or at the cursor (insert); while an edit of this
// file is pending, what is typed there follows up on it (refine in place). A request that looks like a long task
// gets the offer to hand it to Deep mode instead.

import { currentSelection, hasSelection } from './selection.js';

export class InlineBox {
  constructor(app, state, actions) {
    this.app = app;
    this.state = state;
    this.actions = actions;
    this.visible = false;
    this.node = document.createElement('div');
    this.node.className = 'spark-inline';
    this.node.dataset.testid = 'spark-inline';
    this.input = document.createElement('input');
    this.input.placeholder = 'Ask Spark to write or change code…';
    this.input.dataset.testid = 'spark-inline-input';
    this.hint = document.createElement('span');
    this.hint.className = 'hint';
    this.deep = document.createElement('button');
    this.deep.type = 'button';
    this.deep.textContent = 'Take this to Deep';
    this.deep.dataset.testid = 'spark-inline-handover';
    this.deep.addEventListener('mousedown', (event) => event.preventDefault());
    this.deep.addEventListener('click', () => this.handOver());
    this.offer = document.createElement('div');
    this.offer.className = 'offer';
    this.offer.dataset.testid = 'spark-handover-offer';
    this.offer.hidden = true;
    this.node.append(this.input, this.hint, this.deep, this.offer);
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
    const file = this.app.currentFile();
    if (!this.app.canEdit || !file) return;
    this.position = this.app.editor.getSelection().getStartPosition();
    const active = this.state.activeFor(file.id);
    this.refining = active && active.status !== 'streaming' && active.pending ? active : null;
    this.replace = hasSelection(this.app);
    this.selection = currentSelection(this.app);
    this.hint.textContent = this.refining
      ? 'follows up on the pending edit · Enter'
      : this.replace
        ? 'replaces selection · Enter'
        : 'inserts at cursor · Enter';
    this.offer.hidden = true;
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

  async submit(force = false) {
    const instruction = this.input.value.trim();
    const file = this.app.currentFile();
    if (!instruction || !file) return;
    if (this.refining) {
      this.close();
      this.actions.refine(this.refining, instruction);
      return;
    }
    try {
      const reply = await this.app.ws.request('spark.request', {
        file_id: file.id,
        mode: this.replace ? 'replace' : 'insert',
        instruction,
        selection: this.selection,
        force,
      });
      if (reply.handover_offered) {
        this.showOffer(reply.reason);
        return;
      }
      this.close();
    } catch (error) {
      this.close();
      this.app.toast(error.message, 'error');
    }
  }

  showOffer(reason) {
    const run = document.createElement('button');
    run.type = 'button';
    run.textContent = 'Run in Spark anyway';
    run.dataset.testid = 'spark-run-anyway';
    run.addEventListener('click', () => this.submit(true));
    const text = document.createElement('span');
    text.textContent = reason;
    this.offer.replaceChildren(text, run);
    this.offer.hidden = false;
  }

  handOver() {
    const instruction = this.input.value.trim();
    this.close();
    this.actions.handover(this.refining, { instruction, selection: this.selection });
  }
}
