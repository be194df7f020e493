"""Atomic file writes: a reader never sees a half-written camforge output.

Every writer in camforge writes to a temporary file in the destination folder and then
renames it onto the final name with :func:`os.replace`, which is atomic on POSIX and
Windows when both names are on the same file system. On error the temporary file is
removed and the destination is left untouched.

    >>> with atomic_path("out/raw.dng") as tmp:      # doctest: +SKIP
    ...     some_library.save(tmp)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from camforge.errors import InputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; outputs get the usual permissions.
_FILE_MODE = 0o666 & ~_current_umask()


def _check_dir(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        raise InputError(f"cannot write {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: {parent} is not a folder")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The temporary file keeps the suffix of ``path`` (libraries that pick a format from
    the suffix keep working). If the body raises, the temporary file is deleted and the
    exception propagates; ``path`` is not touched.

    Raises:
        InputError: the destination folder does not exist or cannot be written.
    """
    path = Path(path)
    _check_dir(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with contextlib.suppress(OSError):
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename); return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default); return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]
