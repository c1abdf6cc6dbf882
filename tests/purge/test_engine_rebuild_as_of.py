"""A purge never rewinds the marts to an older instant than the last build judged at."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import generated_home
import pytest

from lethe.build import last_build_as_of
from lethe.dsr import SubjectRef, erase_subject


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_home.build(tmp_path_factory.mktemp("rebuild-as-of"))


def test_an_erasure_judged_at_an_older_day_rebuilds_the_marts_at_the_last_builds_as_of(built: Path, tmp_path: Path) -> None:
    """An Airflow enforce run cleared days after a later transform (or a purge or erasure given an old --as-of)
    rebuilt every mart downstream of what it deleted at its own, older as-of, and published them: an unsubscribe
    since then unseen, the person back in the marketing audience. The rebuild now judges at the last build's."""
    settings = generated_home.copy(built, tmp_path / "h")
    tenant = generated_home.NO_HOLDS  # no legal holds: nobody's erasure is refused
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        (contact,) = con.execute("select min(id) from raw.crm_contacts where tenant_id = ?", [tenant]).fetchone()
    finally:
        con.close()
    result = erase_subject(settings.with_as_of("2026-10-01T00:00:00Z"), tenant=tenant, ref=SubjectRef(contact_id=contact))
    assert result.derived == "rebuilt"
    assert last_build_as_of(settings) == datetime(2026, 11, 1, tzinfo=UTC)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        stamps = con.execute("select distinct as_of from marts.fct_consent_status union "
                             "select distinct as_of from marts.audience_eligible").fetchall()
    finally:
        con.close()
    assert stamps == [(datetime(2026, 11, 1),)]
