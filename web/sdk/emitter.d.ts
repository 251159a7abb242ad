// Types of emitter.js: named events with listeners that can't break the SDK.

/** A map from event name to its listener's arguments. */
export type EventMap = Record<string, unknown[]>;

/** The log the SDK writes to (console by default). */
export interface Log {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export declare class Emitter<Events extends EventMap = EventMap> {
  constructor(log: Log);
  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events & string>(name: K, fn: (...args: Events[K]) => void): () => void;
  off<K extends keyof Events & string>(name: K, fn: (...args: Events[K]) => void): void;
  emit<K extends keyof Events & string>(name: K, ...args: Events[K]): void;
}
