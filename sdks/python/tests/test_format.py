"""The pretty replay format (pure; no daemon)."""

from __future__ import annotations

from datetime import UTC, datetime

from statehouse import Operation, ReplayEvent

AT = datetime(2025, 3, 4, 12, 31, 4, 987000, tzinfo=UTC)


def event(*ops: Operation, agent: str = "research-1", txn: str = "txn-1") -> ReplayEvent:
    return ReplayEvent(txn, 42, list(ops), namespace="default", agent_id=agent, committed_at=AT)


def test_one_line_per_operation_in_the_spec_format() -> None:
    ev = event(Operation("context", {"topic": "databases"}, 3), Operation("old", None, 5))
    assert repr(ev).splitlines() == [
        '12:31:04Z  agent=research-1  WRITE  key=context  v=3  {"topic":"databases"}',
        "12:31:04Z  agent=research-1  DEL  key=old  v=5",
    ]


def test_operation_labels_follow_key_prefixes() -> None:
    ops = [
        Operation("tool/search", {"q": 1}, 1),
        Operation("note/x", {"a": 1}, 1),
        Operation("annotation/y", {"a": 1}, 1),
        Operation("final/z", {"a": 1}, 1),
        Operation("answer/w", {"a": 1}, 1),
        Operation("plain", {"a": 1}, 1),
        Operation("tool/deleted", None, 2),
    ]
    labels = [line.split("  ")[2] for line in repr(event(*ops)).splitlines()]
    assert labels == ["TOOL", "NOTE", "NOTE", "FINAL", "FINAL", "WRITE", "DEL"]


def test_key_is_cut_at_48_and_summary_at_120() -> None:
    long_key = "k" * 100
    value = {"text": "x" * 500}
    line = repr(event(Operation(long_key, value, 1)))
    key_part = line.split("  ")[3]
    assert key_part == "key=" + "k" * 45 + "..."
    summary = line.split("  ", 5)[5]
    assert len(summary) == 120
    assert summary.endswith("...")


def test_every_line_is_a_single_line_under_300_chars_even_for_hostile_input() -> None:
    hostile = "a\nb\tc\x1b" * 100
    ops = [Operation(hostile, {hostile: hostile}, 2**64 - 1), Operation(hostile, None, 1)]
    ev = event(*ops, agent=hostile, txn=hostile)
    for verbose in (False, True):
        from statehouse._format import format_event_lines

        lines = format_event_lines(ev, verbose=verbose)
        assert len(lines) == 2
        for line in lines:
            assert "\n" not in line
            assert len(line) < 300


def test_verbose_adds_txn_and_payload() -> None:
    from statehouse._format import format_event_lines

    ev = event(Operation("context", {"topic": "databases", "n": 2}, 3), Operation("gone", None, 4))
    assert format_event_lines(ev, verbose=True) == [
        '12:31:04Z  agent=research-1  WRITE  key=context  v=3  txn=txn-1  payload: {"n":2,"topic":"databases"}',
        "12:31:04Z  agent=research-1  DEL  key=gone  v=4  txn=txn-1  payload: null",
    ]


def test_missing_commit_time_and_empty_event() -> None:
    ev = ReplayEvent("t", 7, [Operation("k", {"a": 1}, 1)], "default", "a")
    assert repr(ev).startswith("--:--:--Z  agent=a  WRITE")
    assert repr(ReplayEvent("t", 7, [])) == "<ReplayEvent txn_id=t commit_ts=7>"


def test_to_dict_is_json_ready() -> None:
    ev = event(Operation("k", {"a": [1, 2]}, 1), Operation("d", None, 2))
    assert ev.to_dict() == {
        "txn_id": "txn-1",
        "commit_ts": 42,
        "committed_at": "2025-03-04T12:31:04.987000Z",
        "namespace": "default",
        "agent_id": "research-1",
        "operations": [{"key": "k", "value": {"a": [1, 2]}, "version": 1}, {"key": "d", "value": None, "version": 2}],
    }
