"""Small file-system helpers shared by publish, the purge, exports and the build: durable renames, atomic
writes and paths in SQL literals."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from lethe.errors import LetheError


def is_gzip(path: Path) -> bool:
    """True for a gzipped landing file: its name ends in .gz, in any letter case (`X.CSV.GZ` from a Windows
    export is as gzipped as `x.csv.gz`)."""
    return path.name.lower().endswith(".gz")


def has_extension(name: str, ext: str) -> bool:
    """True when a file's name ends in `.ext` or `.ext.gz`, in any letter case (`EXPORT.CSV` is a CSV file)."""
    return name.lower().endswith((f".{ext.lower()}", f".{ext.lower()}.gz"))


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by path (a directory after a rename, so the rename itself is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sql_path(path: Path) -> str:
    """A path as the inside of a single-quoted SQL string literal (quotes doubled)."""
    return str(path).replace("'", "''")


def check_output_file(path: Path) -> None:
    """Refuse, before any work, an output path that names an existing folder (`--out DIR` for a file)."""
    if path.is_dir():
        raise LetheError(f"{path}: is a folder; --out names the file to write")


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` through a hidden temporary file in the same folder and a rename: a reader sees
    the old content or the new, never part of it. The file is created with `mode` (owner only by default).
    When the write or the rename fails, the temporary file is removed: what it holds (an export's personal
    data) must not be left behind under another name. The temporary file's name is unique to the call, so that
    writers of the same file in a shared folder (builds sharing a record, two processes exporting) never write
    into each other's: the last rename wins, whole."""
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:  # named as the user gave it, not as the hidden temporary file
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def append_line(path: Path, line: str, mode: int = 0o600, *, durable: bool = True) -> None:
    """Append one line to a log with a single O_APPEND write, so that concurrent writers never interleave (the file
    is made with `mode` when new); `durable` fsyncs it before returning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.write(fd, (line if line.endswith("\n") else line + "\n").encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
