"""Atomic writes: all or nothing, same folder, usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from camforge.errors import InputError
from camforge.io import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_and_replace(tmp_path):
    p = atomic_write_text(tmp_path / "a.txt", "first")
    assert p.read_text() == "first"
    atomic_write_bytes(p, b"second")
    assert p.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_error_leaves_destination_untouched_and_no_temp_file(tmp_path):
    p = tmp_path / "keep.json"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".json"
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.json"]


def test_unwritable_destinations(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        atomic_write_text(tmp_path / "no" / "a.txt", "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        atomic_write_text(tmp_path / "file" / "a.txt", "x")
    with pytest.raises(InputError, match="is a folder"):
        atomic_write_text(tmp_path, "x")
