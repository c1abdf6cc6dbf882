"""Landing files: discover them, hash them, and read their text (gzip and UTF-8 BOM handled)."""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lethe.contracts import Contract
from lethe.fsutil import has_extension, is_gzip

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
    replaced: bool = False  # read with lenient=True: bytes that are no UTF-8 became U+FFFD in `text`


def _extension(contract: Contract) -> str | None:
    last = contract.landing_path.rsplit("/", 1)[-1]
    return last[2:] if last.startswith("*.") else None


def find_files(landing: Path, tenant: str, contract: Contract) -> list[Path]:
    """Files of one dataset for one tenant, at any depth, with the contract's extension or its `.gz` (in any
    letter case)."""
    root = landing / tenant / contract.source_dir
    if not root.is_dir():
        return []
    ext = _extension(contract)
    files = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if ext is None or has_extension(path.name, ext):
            files.append(path)
    return sorted(files)


def unclaimed_files(landing: Path, owner: str, contracts: list[Contract], *, everywhere: bool) -> list[str]:
    """One line for each file in an owner's folder (a tenant's, or `_centre`) that none of `contracts` loads: a
    file in one's folder without its extension (an `.xlsx` among the DSR CSVs), and, when `everywhere`, a file in
    no source folder at all. Such a file is never loaded, so it must not go unmentioned. Hidden files and folders
    (a purge's temporary copy) are not listed. One pass over the folders (os.walk: no stat per file), deciding
    per folder which source it belongs to; a recordings folder, which loads every file, is not walked."""
    root = landing / owner
    if not root.is_dir():
        return []
    folders = {c.source_dir: c for c in contracts}
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root).as_posix()
        contract = next((c for d, c in folders.items() if rel == d or rel.startswith(f"{d}/")), None)
        ext = _extension(contract) if contract is not None else None
        if contract is not None and ext is None:
            dirnames[:] = []
            continue
        if contract is None and not everywhere:
            continue
        prefix = f"{owner}/" if rel == "." else f"{owner}/{rel}/"
        for name in sorted(n for n in filenames if not n.startswith(".")):
            if contract is None:
                lines.append(f"{prefix}{name}: in no source folder of the landing zone: not loaded")
            elif not has_extension(name, ext):
                lines.append(f"{prefix}{name}: not a .{ext} file (the {contract.source_dir}/ folder loads *.{ext} "
                             f"and *.{ext}.gz): not loaded")
    return sorted(lines)  # in path order


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


def read_text(file: LandingFile, *, lenient: bool = False) -> FileText:
    """Decoded text of a file; a truncated gzip, non-UTF-8 bytes or an empty file is a problem, not an error.
    `lenient` (JSON Lines, whose lines are records of their own): bytes that are no UTF-8 become U+FFFD and the
    text is returned, marked `replaced`, for the lines holding them to be quarantined alone."""
    data = file.path.read_bytes()
    if is_gzip(file.path):
        try:
            data = _decompress(data)
        except (EOFError, zlib.error) as exc:
            return FileText(file, None, f"truncated or corrupt gzip ({exc})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not lenient:
            return FileText(file, None, f"not UTF-8 (invalid byte at offset {exc.start})")
        return FileText(file, data.decode("utf-8-sig", errors="replace"), None, replaced=True)
    if not text.strip():
        return FileText(file, None, "empty file")
    return FileText(file, text, None)


def chunks(files: list[LandingFile], limit: int = CHUNK_BYTES) -> Iterator[list[LandingFile]]:
    """Split files into batches of at most `limit` bytes of content (at least one file each)."""
    batch: list[LandingFile] = []
    size = 0
    for f in files:
        weight = f.size * (GZIP_RATIO if is_gzip(f.path) else 1)
        if batch and size + weight > limit:
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += weight
    if batch:
        yield batch
