// Spark mode in the editor: Ctrl/Cmd+K inline requests, the streaming bar (Stop / Accept / Reject),
// and a side panel with chat, ruff actions and live request figures. The AI's cursor and highlighted
// region come from its awareness state, rendered by y-monaco like any collaborator's.

import { SparkBar } from './bar.js';
import { InlineBox } from './inline.js';
import { SparkPanel } from './panel.js';
import { SparkState } from './state.js';
import { injectStyles } from './styles.js';

export default {
  name: 'spark',
  install(app) {
    injectStyles();
    const state = new SparkState(app);
    const inline = new InlineBox(app, (message) => app.toast(message, 'error'));
    const panel = new SparkPanel(app, state);
    const bar = new SparkBar(app, state);
    app.editor.addAction({ id: 'spark.inline', label: 'Spark: write or change code with AI', run: () => inline.open() });
    // Ctrl/Cmd+K starts Monaco's chord bindings (Ctrl+K Ctrl+C, ...): catch it before Monaco sees it.
    // On the container: getDomNode() is null until a model is set (an empty workspace).
    app.editor.getContainerDomNode().addEventListener(
      'keydown',
      (event) => {
        const mod = event.ctrlKey || event.metaKey;
        if (mod && !event.shiftKey && !event.altKey && event.key.toLowerCase() === 'k' && !inline.node.contains(event.target)) {
          event.preventDefault();
          event.stopPropagation();
          inline.open();
        }
      },
      true,
    );
    app.spark = { state, inline, panel, bar };
  },
};
