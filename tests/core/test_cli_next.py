"""``moroccron jobs next``: no horizon, no crash on 29 February, honest about the end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import moroccron.cli as cli
from moroccron import Job
from moroccron.cli import main
from moroccron.store import Store


@pytest.fixture()
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'm.db'}"


def put(db: str, **kw) -> None:
    store = Store(db)
    store.ensure_schema()
    store.put_job(Job(command="true", **kw))


def lines(capsys) -> list[str]:
    return [line.strip() for line in capsys.readouterr().out.splitlines()]


def test_on_29_february_it_does_not_crash(db, capsys, monkeypatch):
    put(db, name="daily", schedule="0 9 * * *")

    class Leap(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2028, 2, 29, 12, 0, tzinfo=UTC)

    monkeypatch.setattr(cli, "datetime", Leap)  # the clock the command reads
    assert main(["jobs", "next", "daily", "--db", db]) == 0
    out = lines(capsys)
    assert out[0].startswith("daily: ")  # then the schedule in words
    assert out[1:] == ["2028-03-01 09:00:00 UTC", "2028-03-02 09:00:00 UTC", "2028-03-03 09:00:00 UTC"]
    # the same through --from
    monkeypatch.undo()
    assert main(["jobs", "next", "daily", "-n", "1", "--from", "2028-02-29T12:00:00Z", "--db", db]) == 0
    assert lines(capsys)[1:] == ["2028-03-01 09:00:00 UTC"]


def test_an_iso_schedule_starting_in_2040_shows_its_start(db, capsys):
    put(db, name="later", schedule="R/2040-01-01T00:00:00Z/P1D")
    assert main(["jobs", "next", "later", "--db", db]) == 0
    out = lines(capsys)
    assert out[1:] == ["2040-01-01 00:00:00 UTC", "2040-01-02 00:00:00 UTC", "2040-01-03 00:00:00 UTC"]
    assert "(schedule has ended)" not in "\n".join(out)


def test_six_leap_days_are_six_lines(db, capsys):
    put(db, name="leap", schedule="0 0 29 2 *")
    assert main(["jobs", "next", "leap", "-n", "6", "--from", "2026-01-01T00:00:00Z", "--db", db]) == 0
    assert lines(capsys)[1:] == [f"{y}-02-29 00:00:00 UTC" for y in (2028, 2032, 2036, 2040, 2044, 2048)]


def test_local_times_are_shown_beside_utc(db, capsys):
    put(db, name="ny", schedule="30 1 * * *", timezone="America/New_York")
    assert main(["jobs", "next", "ny", "-n", "2", "--from", "2026-11-01T00:00:00-04:00", "--db", db]) == 0
    assert lines(capsys)[1:] == [
        "2026-11-01 05:30:00 UTC  (2026-11-01 01:30:00 EDT)",
        "2026-11-02 06:30:00 UTC  (2026-11-02 01:30:00 EST)",
    ]


def test_a_finite_schedule_says_when_it_ends(db, capsys):
    put(db, name="three", schedule="R3/2026-01-01T00:00:00Z/P1D")
    assert main(["jobs", "next", "three", "-n", "5", "--from", "2026-01-01T12:00:00", "--db", db]) == 0
    assert lines(capsys)[1:] == [
        "2026-01-02 00:00:00 UTC",
        "2026-01-03 00:00:00 UTC",
        "(no more: the schedule ends here)",
    ]
    assert main(["jobs", "next", "three", "--from", "2027-01-01T00:00:00Z", "--db", db]) == 0
    assert lines(capsys)[1:] == ["(schedule has ended)"]


def test_a_search_that_gives_up_says_so_and_does_not_claim_the_end(db, capsys):
    put(db, name="edge", schedule="R/9999-12-30T00:00:00Z/P1D")  # no instant after 9999-12-31
    assert main(["jobs", "next", "edge", "-n", "5", "--from", "9999-12-30T12:00:00Z", "--db", db]) == 0
    out = lines(capsys)
    assert out[1:] == [
        "9999-12-31 00:00:00 UTC",
        "(no more fire times found after 9999-12-31 00:00:00 UTC: the search for the next one gave up)",
    ]


@pytest.mark.parametrize("count", ["0", "1001", "many"])
def test_count_out_of_bounds_is_a_usage_error_naming_it(db, capsys, count):
    with pytest.raises(SystemExit) as exc:
        main(["jobs", "next", "-n", count, "--db", db])
    assert exc.value.code == 2
    assert f"-n/--count: {count!r} is not a whole number from 1 to 1000" in capsys.readouterr().err


def test_a_bad_from_is_a_usage_error(db, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["jobs", "next", "--from", "yesterday", "--db", db])
    assert exc.value.code == 2
    assert "--from: 'yesterday' is not an ISO 8601 date-time" in capsys.readouterr().err
