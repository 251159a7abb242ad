// The wire vocabulary the SDK speaks (docs/protocol.md; kasagi/wire.py on the server).

export const REALM = 'kasagi';
export const LOBBY_OPEN = 'kasagi.lobby.open';
export const LOBBY_LIST = 'kasagi.lobby.list';
export const LOBBY_MATCH = 'kasagi.lobby.match';
export const lobbyTopic = (type) => `kasagi.lobby.rooms.${type}`;
export const roomTopic = (room) => `kasagi.room.${room}`;
export const roomProcedure = (room, verb) => `kasagi.room.${room}.${verb}`;
export const ROOM_ID = /^[a-z0-9_]{1,64}$/;

/** Error URIs of the server (docs/protocol.md, Errors) and of this client. */
export const ErrorURI = Object.freeze({
  INVALID_ARGUMENT: 'kasagi.error.invalid_argument',
  REJECTED: 'kasagi.error.rejected',
  NOT_MEMBER: 'kasagi.error.not_member',
  NO_SUCH_ROOM: 'kasagi.error.no_such_room',
  RATE_LIMITED: 'kasagi.error.rate_limited',
  UNAVAILABLE: 'kasagi.error.unavailable',
  NOT_AUTHORIZED: 'kasagi.error.not_authorized',
  INTERNAL: 'kasagi.error.internal',
  OUTCOME_UNKNOWN: 'kasagi.error.outcome_unknown', // the room can no longer answer for that cseq (or client instance)
  FULL: 'kasagi.error.full', // a capacity limit: the room or the room service is full
  // Raised by this client, never sent by a server:
  TIMEOUT: 'kasagi.client.timeout', // no answer within the deadline: it may or may not have happened
  CONNECTION_LOST: 'kasagi.client.connection_lost', // the connection dropped before the answer
  CLOSED: 'kasagi.client.closed', // client.close() was called
});
