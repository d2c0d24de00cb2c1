// The JSON workspace channel (/ws/workspace/<id>): events, request/reply, reconnect with backoff.

import { Emitter } from './events.js';

const PERMANENT_CLOSE = (code) => code >= 4400 && code < 4500;

export class WorkspaceChannel {
  constructor(url) {
    this.url = url;
    this.events = new Emitter();
    this.pending = new Map();
    this.queue = [];
    this.nextRequestId = 1;
    this.attempts = 0;
    this.status = 'connecting';
    this.closedForGood = false;
    this.connect();
  }

  connect() {
    this.setStatus('connecting');
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempts = 0;
      this.setStatus('connected');
      for (const text of this.queue.splice(0)) socket.send(text);
      this.events.emit('open');
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.setStatus('disconnected');
      this.rejectPending('connection lost');
      if (PERMANENT_CLOSE(event.code)) {
        this.closedForGood = true;
        this.events.emit('closed', { code: event.code, reason: event.reason });
        return;
      }
      const delay = Math.min(200 * 2 ** this.attempts, 10000);
      this.attempts += 1;
      setTimeout(() => this.connect(), delay);
    };
  }

  setStatus(status) {
    this.status = status;
    this.events.emit('status', status);
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const waiting = message.request_id != null ? this.pending.get(message.request_id) : undefined;
    if (waiting && (message.type === `${waiting.type}.ok` || message.type === 'error')) {
      this.pending.delete(message.request_id);
      if (message.type === 'error') waiting.reject(new Error(message.message || 'request failed'));
      else waiting.resolve(message);
    }
    this.events.emit(message.type, message);
    this.events.emit('*', message);
  }

  /** Send a JSON message; queued until the socket is open. */
  send(message) {
    const text = JSON.stringify(message);
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
    else this.queue.push(text);
  }

  /** Send {type, request_id, ...data}; resolves with the "<type>.ok" reply, rejects with the "error" message. */
  request(type, data = {}, { timeoutMs = 60000 } = {}) {
    const requestId = `r${Date.now().toString(36)}-${this.nextRequestId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(requestId)) reject(new Error(`${type}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, {
        type,
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.send({ ...data, type, request_id: requestId });
    });
  }

  rejectPending(reason) {
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id);
      waiting.reject(new Error(reason));
    }
  }

  /** Listen to server events of one type ('*' for all); returns an unsubscribe function. */
  on(type, callback) {
    return this.events.on(type, callback);
  }
}
