"""File names as producers write them: an extension in capitals (a Windows export's `EXPORT.CSV`, `EVENTS.JSON.GZ`)
loads like its lower-case twin, and a file that no source loads (an `.xlsx` among the DSR CSVs, a note at the top of
a tenant's folder) is named in the summary, every run, instead of being passed over without a word."""

from __future__ import annotations

import gzip
import json

import pytest
from ingest_helpers import TENANT, fresh_home, query

from lethe.ingest import run_ingest

DSR_HEADER = "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    settings, land = fresh_home(tmp_path_factory, "names")
    t = land / TENANT
    (t / "crm" / "dsr_requests" / "WINDOWS.CSV").write_text(
        DSR_HEADER + "dsr-up-1,2024-01-20T00:00:00Z,erasure,,upper@example.com,,2024-01-21T00:00:00Z,\n")
    (t / "crm" / "dsr_requests" / "ZIPPED.Csv.GZ").write_bytes(gzip.compress(
        (DSR_HEADER + "dsr-up-2,2024-01-20T00:00:00Z,access,,zipped@example.com,,,\n").encode()))
    (t / "email_events" / "POST.JSON.GZ").write_bytes(gzip.compress(json.dumps([
        {"email": "upper@example.com", "timestamp": 1705312800, "event": "open", "sg_event_id": "ev-up-1"},
    ]).encode()))
    (t / "crm" / "dsr_requests" / "requests.xlsx").write_bytes(b"PK\x03\x04 not read")
    (t / "notes.txt").write_text("who to call about the export\n")
    (t / "crm" / "dsr_requests" / ".half-written.csv.purge-tmp").write_text(DSR_HEADER)
    first = run_ingest(settings, land)
    again = run_ingest(settings, land)
    return settings, first, again


def test_an_extension_in_capitals_loads_like_its_lower_case_twin(named):
    settings, first, _ = named
    assert query(settings, "select request_id, type from raw.dsr_requests where request_id like 'dsr-up-%' order by 1") == [
        ("dsr-up-1", "erasure"), ("dsr-up-2", "access")]
    assert query(settings, "select email from raw.email_events where sg_event_id = 'ev-up-1'") == [("upper@example.com",)]
    assert query(settings, "select count(*) from quarantine.files where source_file like '%.GZ' or source_file like '%.CSV'") == [(0,)]


def test_a_file_no_source_loads_is_named_in_every_run(named):
    _, first, again = named
    expected = [
        f"{TENANT}/crm/dsr_requests/requests.xlsx: not a .csv file (the crm/dsr_requests/ folder loads *.csv and "
        "*.csv.gz): not loaded",
        f"{TENANT}/notes.txt: in no source folder of the landing zone: not loaded",
    ]
    for summary in (first, again):
        assert [line for line in summary.not_loaded if line.startswith(TENANT)] == expected
        assert "not loaded:\n" in summary.render() and expected[0] in summary.render()
    assert again.sources == ()  # nothing was loaded the second time; the files are still named


def test_plain_and_gzipped_json_files_are_read_by_duckdb_not_the_slow_path(tmp_path) -> None:
    """read_json was told compression 'none', which it refuses: every plain JSON file fell back to being parsed
    whole in Python, with the same rows but many times slower, and a 200,000-subject ingest ran out of memory."""
    import gzip
    import json

    import duckdb

    from lethe.contracts import load_all_contracts
    from lethe.ingest.parse import _reader_sql

    events = [{"email": "a@example.com", "timestamp": 1767225600, "event": "delivered", "sg_event_id": "e1"}]
    plain, packed = tmp_path / "post.json", tmp_path / "POST.JSON.GZ"
    plain.write_text(json.dumps(events))
    packed.write_bytes(gzip.compress(json.dumps(events).encode()))
    contract = load_all_contracts()["email_events"]
    con = duckdb.connect()
    for path in (plain, packed):
        assert con.execute(f"select count(*) from {_reader_sql(contract, [str(path)])}").fetchone() == (1,), path
