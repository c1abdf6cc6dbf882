"""Landing files: discover them, hash them, and read their text (gzip and UTF-8 BOM handled)."""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lethe.contracts import Contract

log = logging.getLogger(__name__)

CENTRE = "_centre"
CHUNK_BYTES = 256 * 1024 * 1024  # uncompressed bytes per batch: bounds peak memory; fewer batches, fewer GX runs
GZIP_RATIO = 6  # a .gz file counts this many times its size on disk


@dataclass(frozen=True)
class LandingFile:
    """One file below a source folder: where it is, how big, and its content hash."""

    path: Path
    rel: str  # relative to the landing root, posix
    size: int
    sha256: str


@dataclass(frozen=True)
class FileText:
    """A file's decoded text, or why it could not be read."""

    file: LandingFile
    text: str | None
    problem: str | None


def _extension(contract: Contract) -> str | None:
    last = contract.landing_path.rsplit("/", 1)[-1]
    return last[2:] if last.startswith("*.") else None


def find_files(landing: Path, tenant: str, contract: Contract) -> list[Path]:
    """Files of one dataset for one tenant, at any depth, with the contract's extension or its `.gz`."""
    root = landing / tenant / contract.source_dir
    if not root.is_dir():
        return []
    ext = _extension(contract)
    files = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if ext is None or path.name.endswith(f".{ext}") or path.name.endswith(f".{ext}.gz"):
            files.append(path)
    return sorted(files)


def hash_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe(landing: Path, paths: list[Path]) -> list[LandingFile]:
    """Size and content hash of each file (the manifest's identity of a file)."""
    return [
        LandingFile(path=p, rel=p.relative_to(landing).as_posix(), size=p.stat().st_size, sha256=hash_file(p))
        for p in paths
    ]


def _decompress(data: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    out = inflater.decompress(data) + inflater.flush()
    if not inflater.eof:
        raise EOFError("gzip stream ends early")
    return out


def read_text(file: LandingFile) -> FileText:
    """Decoded text of a file; a truncated gzip, non-UTF-8 bytes or an empty file is a problem, not an error."""
    data = file.path.read_bytes()
    if file.path.name.endswith(".gz"):
        try:
            data = _decompress(data)
        except (EOFError, zlib.error) as exc:
            return FileText(file, None, f"truncated or corrupt gzip ({exc})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileText(file, None, f"not UTF-8 (invalid byte at offset {exc.start})")
    if not text.strip():
        return FileText(file, None, "empty file")
    return FileText(file, text, None)


def chunks(files: list[LandingFile], limit: int = CHUNK_BYTES) -> Iterator[list[LandingFile]]:
    """Split files into batches of at most `limit` bytes of content (at least one file each)."""
    batch: list[LandingFile] = []
    size = 0
    for f in files:
        weight = f.size * (GZIP_RATIO if f.path.name.endswith(".gz") else 1)
        if batch and size + weight > limit:
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += weight
    if batch:
        yield batch
