"""Crazy eights with hidden hands and a durable turn timer: :class:`examples.cards.rooms.Cards`."""
