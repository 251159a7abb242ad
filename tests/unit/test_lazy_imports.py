"""Deferred imports (``kasagi.lazy_imports``) on throwaway packages written to a temp dir."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kasagi import lazy_imports
from kasagi.lazy_imports import DeferringFinder


@pytest.fixture
def packages(tmp_path: Path) -> Iterator[Path]:
    """``heavy`` (records that its code ran; a submodule ``heavy.part``) and ``other``, on a
    path of their own, deferred by a finder removed again afterwards."""
    (tmp_path / "heavy").mkdir()
    (tmp_path / "heavy" / "__init__.py").write_text("import sys\nsys.ran.append('heavy')\nVALUE = 42\n")
    (tmp_path / "heavy" / "part.py").write_text("import sys\nsys.ran.append('heavy.part')\nPART = 1\n")
    sys.ran = []  # type: ignore[attr-defined]
    sys.path.insert(0, str(tmp_path))
    finder = DeferringFinder(["heavy"])
    sys.meta_path.insert(0, finder)
    try:
        yield tmp_path
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(tmp_path))
        lazy_imports._state.packages.discard("heavy")
        for name in [m for m in sys.modules if m == "heavy" or m.startswith("heavy.")]:
            del sys.modules[name]
        del sys.ran  # type: ignore[attr-defined]


def test_importing_a_deferred_package_runs_none_of_its_code(packages: Path):
    """``import heavy`` gives a module whose code has not run."""
    import heavy  # type: ignore[import-not-found]

    assert sys.ran == []  # type: ignore[attr-defined]
    assert heavy.__name__ == "heavy"


def test_reading_an_attribute_runs_the_package_once(packages: Path):
    """The first attribute read runs the package's code; later reads see the same module."""
    import heavy

    assert heavy.VALUE == 42
    assert heavy.VALUE == 42
    assert sys.ran == ["heavy"]  # type: ignore[attr-defined]
    assert lazy_imports.report()["loaded"]["heavy"].startswith("heavy from ")


def test_a_submodule_import_runs_the_package_first(packages: Path):
    """Importing ``heavy.part`` of a deferred package runs ``heavy`` before ``heavy.part``,
    as a plain import does."""
    from heavy import part  # type: ignore[import-not-found]

    assert part.PART == 1
    assert sys.ran == ["heavy", "heavy.part"]  # type: ignore[attr-defined]


def test_a_missing_attribute_is_an_attribute_error_after_loading(packages: Path):
    """A name the package does not define raises AttributeError, once its code has run."""
    import heavy

    with pytest.raises(AttributeError):
        _ = heavy.nothing_here
    assert sys.ran == ["heavy"]  # type: ignore[attr-defined]


def test_a_package_that_is_not_there_still_fails_to_import(packages: Path):
    """A listed package that is not installed raises ModuleNotFoundError at import, as before."""
    finder = DeferringFinder(["not_installed_anywhere"])
    sys.meta_path.insert(0, finder)
    try:
        with pytest.raises(ModuleNotFoundError):
            import not_installed_anywhere  # type: ignore[import-not-found]  # noqa: F401
    finally:
        sys.meta_path.remove(finder)
        lazy_imports._state.packages.discard("not_installed_anywhere")
