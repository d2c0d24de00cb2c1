// Spark mode in the editor: Ctrl/Cmd+K inline requests, the streaming bar (Stop / Accept / Reject, follow-ups,
// per-hunk review), ghost-text completions as you type, "Take this to Deep", and a side panel with chat, ruff
// actions and live request figures. The AI's cursor and highlighted region come from its awareness state, rendered
// by y-monaco like any collaborator's; pending regions are also drawn from the server's record (review.js).

import { api } from '../editor/http.js';
import { SparkBar } from './bar.js';
import { Completions } from './completions.js';
import { InlineBox } from './inline.js';
import { SparkPanel } from './panel.js';
import { HunkReview } from './review.js';
import { currentSelection } from './selection.js';
import { SparkState } from './state.js';
import { injectStyles } from './styles.js';

function makeActions(app, state) {
  return {
    // A follow-up on a pending edit: its stream replaces that edit's AI text for everyone.
    async refine(entry, instruction) {
      const file = app.currentFile();
      if (!entry || !file) return;
      try {
        await app.ws.request('spark.request', { file_id: file.id, mode: 'replace', instruction, refine: entry.id });
      } catch (error) {
        app.toast(error.message, 'error');
      }
    },
    // "Take this to Deep": a Deep job with the conversation, the file, the selection and the pending AI text.
    async handover(entry, { instruction = '', conversation = [], selection = null } = {}) {
      const file = app.currentFile();
      if (!file) return;
      try {
        const reply = await app.ws.request('spark.handover', {
          file_id: file.id,
          id: entry?.id ?? null,
          instruction,
          conversation,
          selection: selection ?? currentSelection(app),
        });
        state.jobThreads.set(reply.job_id, reply.thread_id);
        app.toast(`Handed over to Deep: job #${reply.job_id}`, 'success');
        app.panels.show('jobs');
        app.jobs?.ensureKnown?.(reply.job_id).then(() => app.jobs.renderJob(reply.job_id));
      } catch (error) {
        app.toast(error.message, 'error');
      }
    },
  };
}

export default {
  name: 'spark',
  install(app) {
    injectStyles();
    const state = new SparkState(app);
    state.jobThreads = new Map();
    const actions = makeActions(app, state);
    const inline = new InlineBox(app, state, actions);
    const panel = new SparkPanel(app, state, actions);
    const bar = new SparkBar(app, state, actions);
    const review = new HunkReview(app, state);
    const completions = new Completions(app);
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
    app.ws.on('spark.handover', (message) => {
      state.jobThreads.set(message.job_id, message.thread_id);
      app.jobs?.renderJob?.(message.job_id);
    });
    api('GET', `/api/spark/requests?workspace_id=${app.config.workspace.id}&limit=200`)
      .then((rows) => {
        for (const row of rows) if (row.handover_job_id) state.jobThreads.set(row.handover_job_id, row.thread_id);
        app.jobs?.render?.();
      })
      .catch(() => {});
    state.loadPending();
    app.spark = {
      state,
      inline,
      panel,
      bar,
      review,
      completions,
      // The Spark thread a Deep job was handed over from (the Jobs tab links its card back to it), or undefined.
      threadForJob: (jobId) => state.jobThreads.get(jobId),
    };
  },
};
