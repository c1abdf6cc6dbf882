"""The landing rewrite drops exactly the planned records of a file and keeps every other one as it was: elements
without the key, values that are not objects and malformed lines keep their place, and the element dropped is
the one whose key matched, never a neighbour (a key list that skipped keyless elements would shift them)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from lethe.purge.files import LANDING, _rewrite_json


def _con(drop: list[str], patch: list[str] = (), positions: list[tuple[str, int]] = ()) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create temp table _ops (key varchar, drop boolean, patches varchar[])")
    for key in drop:
        con.execute("insert into _ops values (?, true, null)", [key])
    for key in patch:
        con.execute("insert into _ops values (?, false, ['patch'])", [key])
    con.execute("create temp table _qpos (file varchar, pos bigint)")
    for file, pos in positions:
        con.execute("insert into _qpos values (?, ?)", [file, pos])
    return con


def test_a_webhook_array_loses_only_the_planned_element(tmp_path: Path) -> None:
    events = [{"sg_event_id": "a", "email": "a@x.io"}, {"event": "no key"}, 7, "text", None,
              {"sg_event_id": "b", "email": "b@x.io"}, {"sg_event_id": "c", "email": "c@x.io"}]
    path = tmp_path / "e.json"
    path.write_text(json.dumps(events, indent=1))
    gz = tmp_path / "g.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(events).encode()))
    windows = tmp_path / "POST.JSON.GZ"  # gzipped too: ingest loads it, so the purge must read it
    windows.write_bytes(gzip.compress(json.dumps(events).encode()))
    untouched = tmp_path / "u.json"
    untouched.write_text(json.dumps([{"sg_event_id": "z"}]))

    out = _rewrite_json(_con(drop=["b"], patch=["c"]), [path, gz, windows, untouched], LANDING["email_events"])

    assert set(out) == {path, gz, windows}  # a file with no planned record is not rewritten
    for file in (path, gz, windows):
        data, touched = out[file]
        assert touched == 2
        assert json.loads(data) == [events[0], events[1], 7, "text", None, {"sg_event_id": "c"}]  # anonymised: the address is gone


def test_a_contact_record_file_keeps_its_malformed_and_blank_lines_in_place(tmp_path: Path) -> None:
    lines = ['{"ContactId": "k1"}', "", "{not json", '{"ContactId": "k2"}', '{"Other": 1}', '{"ContactId": "k3"}']
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")

    out = _rewrite_json(_con(drop=["k2"], positions=[(str(path), 6)]), [path], LANDING["contact_records"])

    data, touched = out[path]
    assert touched == 2  # k2 by its key, the sixth line (k3) by its position
    assert data.decode().splitlines() == ['{"ContactId": "k1"}', "{not json", '{"Other": 1}']


def test_a_file_that_is_not_an_array_is_refused_not_emptied(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"sg_event_id": "b"}))
    with pytest.raises(duckdb.Error):
        _rewrite_json(_con(drop=["b"]), [path], LANDING["email_events"])


def test_files_duckdb_reads_and_files_read_in_python_are_rewritten_alike(tmp_path: Path) -> None:
    """Plain files are read by DuckDB's read_text, the others in Python, in one batch. A leading BOM is dropped on
    both paths, as a utf-8-sig decode does. A name that read_text would take for a glob pattern is read in Python:
    read_text would read e1.json for e[1].json."""
    events = [{"sg_event_id": "a", "email": "a@x.io"}, {"sg_event_id": "b", "email": "b@x.io"}]
    for folder in ("glob", "star"):
        (tmp_path / folder).mkdir()
    files = {
        "bom": tmp_path / "bom.json",
        "glob": tmp_path / "glob" / "e[1].json",
        "star": tmp_path / "star" / "e*.json",
        "gz": tmp_path / "g.json.gz",
    }
    text = json.dumps(events)
    files["bom"].write_bytes(b"\xef\xbb\xbf" + text.encode())
    files["glob"].write_text(text)
    files["star"].write_text(text)
    files["gz"].write_bytes(gzip.compress(b"\xef\xbb\xbf" + text.encode()))
    for sibling in ("glob/e1.json", "star/e2.json"):  # what the patterns match: no planned record in them
        (tmp_path / sibling).write_text(json.dumps([{"sg_event_id": "z", "email": "z@x.io"}]))

    out = _rewrite_json(_con(drop=["b"]), list(files.values()), LANDING["email_events"])

    assert set(out) == set(files.values()), "a file was missed, or one with no planned record rewritten"
    for name, file in files.items():
        data, touched = out[file]
        assert touched == 1, name
        assert json.loads(data) == [events[0]], name
        assert not data.startswith(b"\xef\xbb\xbf"), name

    lines = tmp_path / "c(1).jsonl"
    lines.write_bytes(b"\xef\xbb\xbf" + b'{"ContactId": "k1"}\n{"ContactId": "k2"}\n')
    data, touched = _rewrite_json(_con(drop=["k1"]), [lines], LANDING["contact_records"])[lines]
    assert touched == 1 and data == b'{"ContactId": "k2"}\n'


def test_a_contact_record_file_with_a_line_that_is_not_utf8_is_rewritten_all_the_same(tmp_path: Path) -> None:
    """Ingest loads the other lines of such a file (quarantining the bad one), so the purge must be able to drop
    a record from it: DuckDB's read_text refuses the file, and it is read in Python instead. The bad bytes come
    back as U+FFFD in the one line they spoil; every other line is kept as it was."""
    lines = ['{"ContactId": "k1", "Queue": "Caf\u00e9"}'.encode(), b'{"ContactId": "k2"}',
             '{"ContactId": "k9", "Queue": "Caf\u00e9"}'.encode("latin-1"), b'{"ContactId": "k3"}']
    plain, gz = tmp_path / "c.jsonl", tmp_path / "c2.jsonl.gz"
    plain.write_bytes(b"\n".join(lines) + b"\n")
    gz.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))

    out = _rewrite_json(_con(drop=["k2"]), [plain, gz], LANDING["contact_records"])

    for path in (plain, gz):
        data, touched = out[path]
        assert touched == 1
        assert data.decode().splitlines() == ['{"ContactId": "k1", "Queue": "Caf\u00e9"}', '{"ContactId": "k9", "Queue": "Caf\ufffd"}',
                                              '{"ContactId": "k3"}']
