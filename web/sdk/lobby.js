// The lobby as the SDK sees it: a live subscription to the listing changes of one room type
// (kasagi.lobby.rooms.<type>), subscribed again after every reconnection.

import { lobbyTopic } from './wire.js';

export class LobbyWatch {
  constructor(client, type, onChange, onResync = null) {
    this.client = client;
    this.type = type;
    this.topic = lobbyTopic(type);
    this.onChange = onChange;
    this.onResync = onResync;
    this.stopped = false;
    this._session = null;
    this._subscription = null;
    this._onStatus = (status) => {
      if (status === 'open' && !this.stopped) this._subscribe(true).catch(() => {});
    };
  }

  async _start() {
    this.client.on('status', this._onStatus);
    await this._subscribe(false);
  }

  async _subscribe(resync) {
    const session = await this.client.whenConnected();
    if (this.stopped || this._session === session) return;
    this._session = session;
    const handler = (args) => {
      const change = args && args[0];
      if (change && typeof change === 'object') this.onChange(change);
    };
    this._subscription = await this.client._race(session, session.subscribe(this.topic, handler), this.client.options.callTimeout, 'subscribe');
    if (resync && this.onResync) this.onResync();
  }

  /** Stop following. */
  async stop() {
    this.stopped = true;
    this.client.off('status', this._onStatus);
    const session = this._session;
    const sub = this._subscription;
    this._subscription = null;
    if (session && sub) await Promise.resolve(session.unsubscribe(sub)).catch(() => {});
  }
}
