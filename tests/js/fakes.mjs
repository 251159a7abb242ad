// Fakes for the SDK's unit tests: a manual clock and a scripted WAMP transport.

/** Let pending promise callbacks run (a few macrotask turns). */
export async function flush(turns = 5) {
  for (let i = 0; i < turns; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** setTimeout/clearTimeout/now driven by advance(ms). */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this._timers = new Map();
    this._next = 1;
    this.delays = []; // every delay asked for, in order
  }

  now = () => this.t;

  setTimeout = (fn, ms) => {
    const id = this._next++;
    this._timers.set(id, { due: this.t + Math.max(0, ms), fn });
    this.delays.push(ms);
    return id;
  };

  clearTimeout = (id) => {
    this._timers.delete(id);
  };

  get pending() {
    return this._timers.size;
  }

  /** Move time forward by `ms`, firing due timers in order and letting promises settle. */
  async advance(ms) {
    const target = this.t + ms;
    for (let i = 0; i < 10_000; i += 1) {
      await flush(); // let work already under way ask for its timers first
      let nextId = null;
      let nextDue = Infinity;
      for (const [id, timer] of this._timers) {
        if (timer.due <= target && timer.due < nextDue) {
          nextId = id;
          nextDue = timer.due;
        }
      }
      if (nextId === null) break;
      const { fn } = this._timers.get(nextId);
      this._timers.delete(nextId);
      this.t = nextDue;
      fn();
      await flush();
    }
    this.t = target;
    await flush();
  }
}

/** A WAMP error as Autobahn JS rejects with. */
export function wampError(uri, message = '', kwargs = {}) {
  return { error: uri, args: message ? [message] : [], kwargs };
}

/** One fake session: calls wait for answer()/fail() (or the server function answers them). */
export class FakeSession {
  constructor(connection, id) {
    this.connection = connection;
    this.id = id;
    this.calls = [];
    this.handlers = new Map();
  }

  call(uri, args = [], kwargs = {}) {
    return new Promise((resolve, reject) => {
      const call = { uri, args, kwargs, resolve, reject, session: this };
      this.calls.push(call);
      this.connection.connector.allCalls.push(call);
      const server = this.connection.connector.server;
      if (server) {
        Promise.resolve()
          .then(() => server(call))
          .then(
            (answer) => {
              if (answer !== undefined) resolve(answer);
            },
            reject,
          );
      }
    });
  }

  subscribe(topic, handler) {
    this.handlers.set(topic, handler);
    return Promise.resolve({ topic });
  }

  unsubscribe(sub) {
    this.handlers.delete(sub.topic);
    return Promise.resolve();
  }

  /** Deliver an event as the router would (positional args). */
  publish(topic, event) {
    this.handlers.get(topic)?.([event], {}, {});
  }
}

/** A connector whose connections open at once (or fail, or are refused) as the test says. */
export class FakeConnector {
  constructor({ server = null } = {}) {
    this.server = server; // (call) => answer | Promise | undefined (no answer) | throws
    this.connections = [];
    this.allCalls = [];
    this.mode = 'accept'; // 'accept' | 'unreachable' | 'refuse' | 'hold'
  }

  get current() {
    return this.connections[this.connections.length - 1];
  }

  get session() {
    return this.current?.session ?? null;
  }

  open(listener) {
    const connection = { connector: this, listener, session: null, closed: false };
    this.connections.push(connection);
    const mode = this.mode;
    queueMicrotask(() => {
      if (mode === 'accept') {
        connection.session = new FakeSession(connection, this.connections.length);
        listener.onOpen(connection.session);
      } else if (mode === 'unreachable') {
        connection.closed = true;
        listener.onClose('unreachable', {});
      } else if (mode === 'refuse') {
        connection.closed = true;
        listener.onClose('closed', { reason: 'kasagi.error.not_authorized', message: 'malformed authid' });
      }
    });
    return {
      close: () => this.drop(connection, 'closed'),
      drop: () => this.drop(connection, 'lost'),
    };
  }

  /** The network fails under `connection` (default: the current one). */
  drop(connection = this.current, reason = 'lost') {
    if (!connection || connection.closed) return;
    connection.closed = true;
    connection.listener.onClose(reason, { reason: 'wamp.close.transport_lost' });
  }

  /** Publish on every open connection's subscription. */
  publish(topic, event) {
    for (const c of this.connections) if (!c.closed && c.session) c.session.publish(topic, event);
  }

  callsTo(suffix) {
    return this.allCalls.filter((c) => c.uri.endsWith(suffix));
  }
}
