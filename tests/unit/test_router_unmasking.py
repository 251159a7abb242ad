"""Clients' small frames unmasked by :mod:`router.unmasking` come out as Autobahn's native
masker unmasks them, whole or in pieces."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from router.unmasking import SMALL, IntXorMasker, install


def native(mask: bytes, length: int) -> object:
    from autobahn.websocket.xormasker import create_xor_masker

    return create_xor_masker(mask, length)


@pytest.mark.parametrize("size", [1, 3, 4, 5, 60, 125, 126, 200, SMALL - 1])
def test_a_frame_unmasks_as_autobahns_in_any_pieces(size: int):
    """Every length around the mask's period, the whole payload at once and cut at random
    places (as TCP reads deliver it): the same bytes as Autobahn's masker, and the same
    position after each piece."""
    rng = random.Random(size)
    for _ in range(20):
        mask, data = rng.randbytes(4), rng.randbytes(size)
        ours, theirs = IntXorMasker(mask), native(mask, size)
        cuts = sorted(rng.sample(range(1, size), min(size - 1, 3))) if size > 1 else []
        out_ours, out_theirs = [], []
        for start, end in zip([0, *cuts], [*cuts, size], strict=True):
            out_ours.append(ours.process(data[start:end]))
            out_theirs.append(theirs.process(data[start:end]))  # type: ignore[attr-defined]
            assert ours.pointer() == theirs.pointer() == end  # type: ignore[attr-defined]
        assert out_ours == out_theirs
        assert IntXorMasker(mask).process(b"".join(out_ours)) == data  # masking twice is the identity


def test_an_empty_piece_and_a_reset():
    masker = IntXorMasker(b"\x01\x02\x03\x04")
    assert masker.process(b"") == b"" and masker.pointer() == 0
    first = masker.process(b"\x00" * 6)
    masker.reset()
    assert masker.pointer() == 0 and masker.process(b"\x00" * 6) == first == b"\x01\x02\x03\x04\x01\x02"


def test_only_small_frames_get_it():
    """Installed on a protocol module: frames under SMALL bytes get the integer masker,
    longer ones (and no length) the native one; installing twice changes nothing."""
    made: list[tuple[bytes, int | None]] = []
    module = SimpleNamespace(create_xor_masker=lambda mask, length=None: made.append((mask, length)) or "native")
    assert install(module) and not install(module)
    assert isinstance(module.create_xor_masker(b"abcd", 100), IntXorMasker)
    assert module.create_xor_masker(b"abcd", SMALL) == "native"
    assert module.create_xor_masker(b"abcd") == "native"
    assert made == [(b"abcd", SMALL), (b"abcd", None)]
