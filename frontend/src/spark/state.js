// Live state of Spark requests in this workspace: the pending edits loaded when the page opens (and after a
// reconnect), then kept current by workspace-channel events.

import { Emitter } from '../editor/events.js';

const EVENTS = [
  'spark.started',
  'spark.progress',
  'spark.done',
  'spark.failed',
  'spark.settled',
  'spark.hunks',
  'spark.chat.delta',
  'spark.handover',
];

export class SparkState {
  constructor(app) {
    this.app = app;
    this.requests = new Map();
    this.events = new Emitter();
    for (const type of EVENTS) app.ws.on(type, (message) => this.receive(type, message));
    // A page that opens (or a channel that reconnects) rebuilds the bar of every edit still awaiting a decision:
    // live events alone would leave them orphaned.
    app.ws.on('hello', () => this.loadPending());
  }

  async loadPending() {
    try {
      const { requests } = await this.app.ws.request('spark.pending', {});
      const open = new Set(requests.map((r) => r.id));
      for (const entry of this.requests.values()) {
        if (entry.pending && entry.status !== 'streaming' && !open.has(entry.id)) entry.pending = false;
      }
      for (const request of requests) {
        const entry = this.requests.get(request.id) ?? { chatText: '' };
        this.requests.set(request.id, Object.assign(entry, request, { pending: true }));
      }
      this.events.emit('change', { type: 'spark.pending', entry: null });
    } catch (error) {
      this.app.toast(`Could not load the pending Spark edits: ${error.message}`, 'error');
    }
  }

  receive(type, message) {
    const entry = this.requests.get(message.id) ?? { id: message.id, chatText: '' };
    if (type === 'spark.started') Object.assign(entry, message, { status: 'streaming', pending: true });
    else if (type === 'spark.chat.delta') entry.chatText += message.text;
    else Object.assign(entry, message);
    if (type === 'spark.settled') entry.pending = false;
    if (type === 'spark.started' && message.parent_id) {
      // The refinement takes over its parent's region.
      const parent = this.requests.get(message.parent_id);
      if (parent) parent.pending = false;
    }
    this.requests.set(message.id, entry);
    this.events.emit('change', { type, entry });
  }

  // The request shown in the editor bar: streaming, awaiting accept/reject, or one the model said needs Deep mode
  // (until dismissed), on the open file.
  activeFor(fileId) {
    let active = null;
    for (const entry of this.requests.values()) {
      if (entry.file_id !== fileId || entry.mode === 'chat') continue;
      if (entry.status === 'streaming' || entry.pending || (entry.handover && !entry.dismissed)) active = entry;
    }
    return active;
  }

  pendingFor(fileId) {
    return [...this.requests.values()].filter(
      (e) => e.file_id === fileId && e.mode !== 'chat' && (e.pending || e.status === 'streaming'),
    );
  }

  on(name, callback) {
    return this.events.on(name, callback);
  }
}

export function figures(entry) {
  const parts = [];
  if (entry.ttft_ms != null) parts.push(`TTFT ${Math.round(entry.ttft_ms)} ms`);
  if (entry.tokens != null) parts.push(`${entry.tokens} tok`);
  if (entry.tokens_per_second != null) parts.push(`${Math.round(entry.tokens_per_second)} tok/s`);
  if (entry.overhead_ms != null) {
    const share = entry.ttft_share_ms != null ? ` (TTFT share ${entry.ttft_share_ms.toFixed(1)} ms)` : '';
    parts.push(`overhead ${entry.overhead_ms.toFixed(2)} ms${share}`);
  }
  return parts.join(' · ');
}
