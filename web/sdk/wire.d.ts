// Types of wire.js: the wire vocabulary the SDK speaks (docs/protocol.md).

export declare const REALM: 'kasagi';
export declare const LOBBY_OPEN: 'kasagi.lobby.open';
export declare function roomTopic(room: string): string;
export declare function roomProcedure(room: string, verb: string): string;
/** What a room id must match: ^[a-z0-9_]{1,64}$. */
export declare const ROOM_ID: RegExp;

/** Error URIs of the server (kasagi.error.*) and of this client (kasagi.client.*). */
export declare const ErrorURI: Readonly<{
  INVALID_ARGUMENT: 'kasagi.error.invalid_argument';
  REJECTED: 'kasagi.error.rejected';
  NOT_MEMBER: 'kasagi.error.not_member';
  NO_SUCH_ROOM: 'kasagi.error.no_such_room';
  RATE_LIMITED: 'kasagi.error.rate_limited';
  UNAVAILABLE: 'kasagi.error.unavailable';
  NOT_AUTHORIZED: 'kasagi.error.not_authorized';
  FULL: 'kasagi.error.full';
  OUTCOME_UNKNOWN: 'kasagi.error.outcome_unknown';
  TIMEOUT: 'kasagi.client.timeout';
  CONNECTION_LOST: 'kasagi.client.connection_lost';
  CLOSED: 'kasagi.client.closed';
}>;

/** One of the URIs in ErrorURI. A KasagiError's `error` may also be any other URI (wamp.error.*). */
export type KnownErrorURI = (typeof ErrorURI)[keyof typeof ErrorURI];
