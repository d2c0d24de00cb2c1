// A minimal event emitter: on(name, cb) returns an unsubscribe function.

export class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  on(name, callback) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(callback);
    return () => this.listeners.get(name)?.delete(callback);
  }

  emit(name, ...args) {
    for (const callback of [...(this.listeners.get(name) || [])]) {
      try {
        callback(...args);
      } catch (error) {
        console.error(`listener for ${name} failed`, error);
      }
    }
  }
}
