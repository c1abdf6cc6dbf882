"""dbt-duckdb plugin: sets the keyed-hash key as the `lethe_key` session variable on every dbt connection.

Referenced from dbt_project/profiles.yml; the key comes from lethe.settings and never reaches the
warehouse, the profile, the compiled SQL or dbt's artifacts and logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from lethe.settings import Settings, get_settings

log = logging.getLogger(__name__)

_active: Settings | None = None


@contextmanager
def using_settings(settings: Settings) -> Iterator[None]:
    """Make in-process dbt invocations read the key from these settings (not the environment)."""
    global _active
    previous, _active = _active, settings
    try:
        yield
    finally:
        _active = previous


def current_key() -> str:
    """The key of the active settings, or of the process settings when dbt runs outside lethe.build."""
    settings = _active if _active is not None else get_settings()
    return settings.secret_key.decode()


def configure_spark(settings: Settings) -> None:
    """Set the key as the `lethe.key` conf of the active Spark session (read by spark__keyed_hash)."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.getOrCreate()
    session.conf.set("lethe.key", settings.secret_key.decode())
    # Spark redacts substituted conf values that look like secrets; spark__keyed_hash reads this hex copy.
    session.conf.set("lethe.key_hex", settings.secret_key.hex())


class Plugin(BasePlugin):
    """Sets `lethe_key` on each DuckDB connection and cursor dbt-duckdb opens (cursors do not share variables)."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        log.debug("lethe dbt plugin loaded")

    def configure_connection(self, conn: Any) -> None:
        conn.execute("set variable lethe_key = ?", [current_key()])

    def configure_cursor(self, cursor: Any) -> None:
        cursor.execute("set variable lethe_key = ?", [current_key()])
