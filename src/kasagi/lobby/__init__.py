"""The lobby: room listings (``kasagi.lobby.list``, the ``kasagi.lobby.rooms.<type>`` topic)
and matchmaking (``kasagi.lobby.match``) over a :class:`ListingStore` shared by every process
of a deployment. See ``docs/rooms.md`` (Listing and matchmaking)."""

from kasagi.lobby.cursor import CursorSigner
from kasagi.lobby.factory import open_listings
from kasagi.lobby.interface import ListedRoom, ListingStore, Seat
from kasagi.lobby.memory import MemoryListingStore
from kasagi.lobby.queries import ListQuery, MatchQuery
from kasagi.lobby.service import Lobby

__all__ = [
    "CursorSigner",
    "ListQuery",
    "ListedRoom",
    "ListingStore",
    "Lobby",
    "MatchQuery",
    "MemoryListingStore",
    "Seat",
    "open_listings",
]
