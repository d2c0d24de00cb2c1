// Live state of Spark requests in this workspace, fed by workspace-channel events.

import { Emitter } from '../editor/events.js';

const EVENTS = ['spark.started', 'spark.progress', 'spark.done', 'spark.failed', 'spark.settled', 'spark.chat.delta'];

export class SparkState {
  constructor(app) {
    this.app = app;
    this.requests = new Map();
    this.events = new Emitter();
    for (const type of EVENTS) app.ws.on(type, (message) => this.receive(type, message));
  }

  receive(type, message) {
    const entry = this.requests.get(message.id) ?? { id: message.id, chatText: '' };
    if (type === 'spark.started') Object.assign(entry, message, { status: 'streaming' });
    else if (type === 'spark.progress') Object.assign(entry, message);
    else if (type === 'spark.chat.delta') entry.chatText += message.text;
    else Object.assign(entry, message);
    if (type === 'spark.settled') entry.pending = false;
    this.requests.set(message.id, entry);
    this.events.emit('change', { type, entry });
  }

  // The request shown in the editor bar: streaming, or awaiting accept/reject, on the open file.
  activeFor(fileId) {
    let active = null;
    for (const entry of this.requests.values()) {
      if (entry.file_id !== fileId || entry.mode === 'chat') continue;
      if (entry.status === 'streaming' || entry.pending) active = entry;
    }
    return active;
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
  if (entry.overhead_ms != null) parts.push(`overhead ${entry.overhead_ms.toFixed(2)} ms`);
  return parts.join(' · ');
}
