// Named events with listeners that can't break the SDK (a listener's error is logged).

export class Emitter {
  constructor(log) {
    this._listeners = new Map();
    this._log = log;
  }

  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  emit(name, ...args) {
    for (const fn of [...(this._listeners.get(name) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        this._log.error(`kasagi: a ${name} listener failed`, err);
      }
    }
  }
}
