"""Small client frames unmasked with one integer XOR.

Every frame a client sends is masked (RFC 6455, section 5.3), and Autobahn unmasks each one
with a masker of its native NVX extension, built per frame through CFFI: a module import,
two CFFI allocations and a copy in and out, some 6-9 microseconds for the 60-200 bytes of a
typical ``act``. For frames that small, the payload read as one integer and XORed with the
mask repeated over its length is 3 to 5 times cheaper; past ``SMALL`` bytes the native
masker is faster and is kept. :func:`install` makes Autobahn's WebSocket protocol (the
module's ``create_xor_masker``, which it calls for each incoming frame) use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["SMALL", "IntXorMasker", "install"]

#: Frames of fewer payload bytes than this are unmasked by :class:`IntXorMasker`.
SMALL = 1024


class IntXorMasker:
    """Autobahn's masker interface (``pointer``, ``reset``, ``process``) for one frame: the
    payload may come in pieces, each continuing the mask where the last one stopped."""

    __slots__ = ("_mask", "_ptr")

    def __init__(self, mask: bytes) -> None:
        if len(mask) != 4:
            raise ValueError("a WebSocket frame mask is 4 bytes")
        self._mask = bytes(mask)
        self._ptr = 0

    def pointer(self) -> int:
        return self._ptr

    def reset(self) -> None:
        self._ptr = 0

    def process(self, data: bytes) -> bytes:
        n = len(data)
        if not n:
            return b""
        shift = self._ptr & 3
        mask = self._mask[shift:] + self._mask[:shift] if shift else self._mask
        self._ptr += n
        key = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def install(protocol_module: Any = None) -> bool:
    """Make ``protocol_module`` (``autobahn.websocket.protocol``) create
    :class:`IntXorMasker` for frames under :data:`SMALL` bytes; False if done before."""
    if protocol_module is None:
        from autobahn.websocket import protocol as protocol_module
    native: Callable[..., Any] = protocol_module.create_xor_masker
    if getattr(native, "kasagi_small_frames", False):
        return False

    def create_xor_masker(mask: bytes, length: int | None = None) -> Any:
        if length is not None and length < SMALL:
            return IntXorMasker(mask)
        return native(mask, length)

    create_xor_masker.kasagi_small_frames = True  # type: ignore[attr-defined]
    protocol_module.create_xor_masker = create_xor_masker
    return True
