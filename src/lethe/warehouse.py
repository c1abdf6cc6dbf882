"""The one place that opens the DuckDB warehouse (the pipeline is its only writer)."""

from __future__ import annotations

import functools
import hashlib
import re

import duckdb

from lethe import catalog
from lethe.errors import ConfigError, WarehouseBusyError
from lethe.keys import sql_keyed_hash
from lethe.settings import Settings

SCHEMAS = ("raw", "quarantine", "lethe_meta")
KEY_CHECK_DDL = """
create table if not exists lethe_meta.key_check (
    key_check varchar not null,   -- PBKDF2 of LETHE_SECRET_KEY: tells a wrong key from the right one, never the key
    recorded_at timestamp not null
)"""


def connect(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, create the base schemas, check and set the session's keyed-hash key."""
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # a home Lethe creates is its user's alone
    try:
        con = duckdb.connect(str(settings.warehouse), read_only=read_only)
    except duckdb.IOException as exc:
        raise busy_error(exc) or exc from exc
    try:
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
        con.execute("set variable lethe_key = ?", [settings.secret_key.decode()])
        _check_key(con, settings, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


def busy_error(exc: BaseException) -> WarehouseBusyError | None:
    """The one-line error for a DuckDB file another process holds (one writer at a time), else None."""
    text = str(exc)
    if not isinstance(exc, duckdb.Error) or "Could not set lock" not in text:
        return None
    path = re.search(r'on file "([^"]+)"', text)
    pid = re.search(r"PID (\d+)", text)
    return WarehouseBusyError(
        f"{path.group(1) if path else 'the warehouse'}: in use by another process{f' (PID {pid.group(1)})' if pid else ''}"
        ", e.g. a pipeline run; try again when it has finished"
    )


@functools.lru_cache(maxsize=4)
def key_check(key: bytes) -> str:
    """A slow one-way digest of the key (PBKDF2-SHA256, fixed salt): equal for the same key, useless for
    guessing it."""
    return hashlib.pbkdf2_hmac("sha256", key, b"lethe warehouse key check", 200_000).hex()


def _check_key(con: duckdb.DuckDBPyConnection, settings: Settings, *, read_only: bool) -> None:
    """Refuse a key other than the one the warehouse was first opened with: subject keys, audiences and the
    erasure tombstones (keyed hashes) would no longer match, and an erased person's re-delivered records
    would load again. A warehouse built before the check was recorded is checked against its resolved
    identities (a CRM contact's own subject key is the keyed hash of its Id), then records the key."""
    check = key_check(settings.secret_key)
    if not catalog.table_exists(con, "lethe_meta", "key_check"):
        if catalog.table_exists(con, "intermediate", "int_subject_identities_resolved"):
            own_hash = sql_keyed_hash("tenant_id", "contact", "identity_value")
            own, matching = con.execute(
                f"select count(*), count(*) filter (where subject_key = {own_hash}) "  # noqa: S608 - constants
                "from intermediate.int_subject_identities_resolved where identity_kind = 'contact'"
            ).fetchone()
            if own and not matching:
                raise ConfigError(_WRONG_KEY.format(warehouse=settings.warehouse))
        if not read_only:
            con.execute(KEY_CHECK_DDL)
            con.execute("insert into lethe_meta.key_check values (?, now()::timestamp)", [check])
        return
    recorded = [row[0] for row in con.execute("select key_check from lethe_meta.key_check").fetchall()]
    if recorded and check not in recorded:
        raise ConfigError(_WRONG_KEY.format(warehouse=settings.warehouse))


_WRONG_KEY = (
    "LETHE_SECRET_KEY is not the key {warehouse} was built with: subject keys and erasure tombstones would no "
    "longer match (an erased person could come back); set the original key (a home's key cannot be changed)"
)
