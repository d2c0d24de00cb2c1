// Completions as you type: ghost text from the Spark model through Monaco's inline-completions provider.
// Tab accepts, Esc dismisses, Ctrl+→ accepts a word (Monaco's own bindings); accepted text is an ordinary edit of
// this editor, so it reaches the shared document through the user's own y-websocket connection.
//
// Requests go over the workspace channel (`spark.complete`; why: workspace/spark/completions.py). A keystroke
// cancels the request in flight at once (`spark.complete.cancel`: the server closes the model's stream). The first
// keystroke after a pause asks at once; while keys come faster than the debounce, it waits for a pause. Text is
// shown from its first line on (or FIRST_SHOW_MS after its first characters) and completed once when the stream
// ends (Monaco refetches a suggestion for an unchanged text only on an explicit trigger, so it is not updated per
// token); an answer for another position or version of the text is never shown. What the user did with each suggestion is reported (shown with its keystroke -> ghost text
// latency, accepted, partially accepted, dismissed).

import { api } from '../editor/http.js';

const PREFIX_CHARS = 6000;
const SUFFIX_CHARS = 2000;
const FIRST_SHOW_MS = 25;

export class Completions {
  constructor(app) {
    this.app = app;
    this.enabled = false;
    this.settings = null;
    this.debounceMs = 120;
    this.keyAt = 0;
    this.previousKeyAt = -Infinity;
    this.current = null; // {key, uri, version, offset, text, done, keyAt, waiters, shown}
    this.early = []; // text that arrived before the reply naming its key
    app.ws.on('spark.completion', (message) => this.receive(message));
    const provider = {
      debounceDelayMs: 0, // debounced here: the first keystroke after a pause must not wait
      provideInlineCompletions: (model, position, context, token) => this.provide(model, position, token),
      handleItemDidShow: (completions) => this.shown(completions),
      handlePartialAccept: (completions, item, accepted, info) =>
        this.report(completions.sparkKey, 'partial', { accepted_chars: info?.acceptedLength ?? accepted }),
      handleEndOfLifetime: (completions, item, reason) => this.ended(completions, item, reason),
      disposeInlineCompletions: () => {},
    };
    app.monaco.languages.registerInlineCompletionsProvider('*', provider);
    app.editor.updateOptions({ inlineSuggest: { enabled: true, edits: { enabled: false } } });
    // Monaco's inline-suggestion view cancels its own animations with a CancellationError nobody awaits; like VS
    // Code's error handler, treat that as the non-error it is.
    window.addEventListener('unhandledrejection', (event) => {
      if (event.reason?.name === 'Canceled' && event.reason?.message === 'Canceled') event.preventDefault();
    });
    app.editor.onKeyDown((event) => this.keystroke(event));
    this.load();
  }

  async load() {
    try {
      this.settings = await api('GET', `/api/spark/completions?workspace_id=${this.app.config.workspace.id}`);
      this.enabled = Boolean(this.settings.enabled) && this.app.canEdit;
      this.debounceMs = this.settings.debounce_ms ?? this.debounceMs;
    } catch (error) {
      this.enabled = false;
    }
    this.app.spark?.panel?.renderCompletions?.(this);
  }

  async setChoice(enabled) {
    await api('PUT', '/api/spark/completions', { enabled });
    await this.load();
  }

  async setWorkspaceDefault(enabled) {
    await api('PUT', `/api/spark/workspaces/${this.app.config.workspace.id}/completions`, { default: enabled });
    await this.load();
  }

  keystroke(event) {
    if (['Shift', 'Control', 'Alt', 'Meta', 'CapsLock'].includes(event.browserEvent.key)) return;
    this.previousKeyAt = this.keyAt;
    this.keyAt = performance.now();
    if (this.current && !this.current.done) {
      // Cancel at once: the model stops generating what this keystroke made stale.
      this.app.ws.send({ type: 'spark.complete.cancel' });
      this.finish(this.current);
      this.current = null;
    }
  }

  async provide(model, position, token) {
    if (!this.enabled || !this.app.currentFile()) return { items: [] };
    const offset = model.getOffsetAt(position);
    const version = model.getVersionId();
    const uri = model.uri.toString();
    const current = this.current;
    if (current && current.uri === uri && current.version === version && current.offset === offset) {
      // The same place: what has streamed so far. Monaco may ask again before any text came; wait for it then,
      // or the suggestion is never shown (Monaco does not ask a third time for an unchanged text).
      if (!current.text && !current.done) await this.firstText(current, token);
      if (this.current !== current || token.isCancellationRequested) return { items: [] };
      return this.items(current, position);
    }
    const keyAt = this.keyAt;
    // Leading edge: the first keystroke after a pause asks now; faster typing waits for a pause.
    if (keyAt - this.previousKeyAt < this.debounceMs) {
      await new Promise((resolve) => setTimeout(resolve, this.debounceMs));
      if (token.isCancellationRequested || model.getVersionId() !== version || this.keyAt !== keyAt) return { items: [] };
    }
    const text = model.getValue();
    const file = this.app.currentFile();
    const entry = { uri, version, offset, text: '', done: false, keyAt, waiters: [], shown: false, key: null };
    this.current = entry;
    try {
      const reply = await this.app.ws.request('spark.complete', {
        file_id: file.id,
        path: file.path,
        language: file.language,
        prefix: text.slice(Math.max(0, offset - PREFIX_CHARS), offset),
        suffix: text.slice(offset, offset + SUFFIX_CHARS),
      });
      entry.key = reply.key;
    } catch (error) {
      if (this.current === entry) this.current = null;
      return { items: [] };
    }
    for (const message of this.early.splice(0)) if (message.key === entry.key) this.receive(message);
    await this.firstText(entry, token);
    if (this.current !== entry || token.isCancellationRequested || model.getVersionId() !== version) return { items: [] };
    return this.items(entry, position);
  }

  items(entry, position) {
    entry.returned = entry.text.length;
    if (!entry.text) return { items: [] };
    const range = new this.app.monaco.Range(position.lineNumber, position.column, position.lineNumber, position.column);
    return { items: [{ insertText: entry.text, range }], sparkKey: entry.key, enableForwardStability: true };
  }

  // The first line, the whole answer, or what came within FIRST_SHOW_MS of the first characters.
  firstText(entry, token) {
    if (entry.done || entry.text.includes('\n')) return Promise.resolve();
    return new Promise((resolve) => {
      entry.waiters.push(resolve);
      token.onCancellationRequested(resolve);
    });
  }

  finish(entry) {
    entry.done = true;
    for (const resolve of entry.waiters.splice(0)) resolve();
  }

  receive(message) {
    const entry = this.current;
    if (!entry || entry.key === null) {
      // The text can arrive before the reply naming its key (a cached answer): keep it for a moment.
      this.early.push(message);
      this.early.splice(0, this.early.length - 8);
      return;
    }
    if (message.key !== entry.key) return; // stale: an answer for text that has changed since
    const first = !entry.text && message.text;
    entry.text += message.text;
    if (message.done) {
      this.finish(entry);
      // Shown before the end: show the rest (once; an explicit trigger makes Monaco ask again).
      if (entry.returned != null && entry.returned < entry.text.length) {
        entry.refreshing = true; // Monaco would keep showing the shorter item it has: drop it, then ask again
        this.run('editor.action.inlineSuggest.hide');
        this.run('editor.action.inlineSuggest.trigger');
        entry.refreshing = false;
      }
    } else if (entry.text.includes('\n')) {
      for (const resolve of entry.waiters.splice(0)) resolve();
    } else if (first) {
      setTimeout(() => {
        for (const resolve of entry.waiters.splice(0)) resolve();
      }, FIRST_SHOW_MS);
    }
  }

  shown(completions) {
    const entry = this.current;
    if (!entry || entry.key !== completions.sparkKey || entry.shown) return;
    entry.shown = true;
    this.lastLatencyMs = performance.now() - entry.keyAt;
    this.report(entry.key, 'shown', { latency_ms: Math.round(this.lastLatencyMs * 10) / 10 });
  }

  ended(completions, item, reason) {
    const kind = reason?.kind;
    const { Accepted } = this.app.monaco.languages.InlineCompletionEndOfLifeReasonKind;
    if (kind === Accepted) this.report(completions.sparkKey, 'accepted', { accepted_chars: item.insertText.length });
    else if (this.current?.shown && this.current.key === completions.sparkKey && !this.current.refreshing) {
      this.report(completions.sparkKey, 'dismissed');
    }
  }

  // A Monaco action whose run a later keystroke may cancel (its promise then rejects with "Canceled").
  run(id) {
    this.app.editor
      .getAction(id)
      ?.run()
      .catch(() => {});
  }

  report(key, outcome, fields = {}) {
    if (!key) return;
    this.app.ws.send({ type: 'spark.complete.report', key, outcome, ...fields });
  }
}
