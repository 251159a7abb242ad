"""NPCs chase the players, moved by a 20 Hz server loop: :class:`examples.chase.rooms.Chase`."""
