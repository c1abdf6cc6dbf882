"""Small file-system helpers shared by publish and the purge: durable renames and paths in SQL literals."""

from __future__ import annotations

import os
from pathlib import Path


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
