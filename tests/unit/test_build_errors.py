"""A failed dbt build is reported in one readable line: dbt colours its messages for a terminal, and those escape
codes would reach the CLI's error line, Airflow's task log and the purge journal as '[32mactual[0m'."""

from __future__ import annotations

from lethe.build import _one_line


def test_a_dbt_error_is_one_line_without_terminal_colour_codes() -> None:
    message = ("unit_test erasure fail: \x1b[32mactual\x1b[0m differs from \x1b[31mexpected\x1b[0m:\n"
               "-----\n| \x1b[0;1m@@\x1b[0m\x1b[33m,\x1b[0m\x1b[0;1mtenant_id\x1b[0m\n| +++ ,t\n| --- ,u\n")
    line = _one_line(message)
    assert line == "unit_test erasure fail: actual differs from expected: | | @@,tenant_id | | +++ ,t"
    assert "\x1b" not in line and "\n" not in line
