"""The original SDK's pretty and verbose formats and statehouse.formatting (pure; no daemon)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from statehouse import Operation, ReplayEvent
from statehouse._format import format_event_lines
from statehouse.formatting import (
    format_event_json,
    format_event_pretty,
    format_event_verbose,
    format_key,
    format_ts,
    format_value_summary,
)

AT = datetime(2025, 3, 4, 12, 31, 4, 987000, tzinfo=UTC)


def event(*ops: Operation, agent: str = "research-1", txn: str = "txn-1", ns: str = "default") -> ReplayEvent:
    return ReplayEvent(txn, 42, list(ops), namespace=ns, agent_id=agent, committed_at=AT)


def test_pretty_lines_have_fixed_width_op_and_key_columns() -> None:
    ev = event(
        Operation("context", {"topic": "databases"}, 3),
        Operation("tool/search", {"query": "raft vs paxos", "results": 8}, 4),
        Operation("final/answer", {"ok": True}, 6),
        Operation("old", None, 5),
    )
    assert repr(ev).splitlines() == [
        '12:31:04Z  agent=research-1  WRITE  key=context               v=3  {"topic":"databases"}',
        '12:31:04Z  agent=research-1  TOOL   key=tool/search           v=4  {"query":"raft vs paxos","results":8}',
        '12:31:04Z  agent=research-1  FINAL  key=final/answer          v=6  {"ok":true}',
        "12:31:04Z  agent=research-1  DEL    key=old                   v=5",
    ]


def test_operation_labels_follow_key_prefixes_even_for_deletes() -> None:
    ops = [
        Operation("tool/search", {"q": 1}, 1),
        Operation("note/x", {"a": 1}, 1),
        Operation("annotation/y", {"a": 1}, 1),
        Operation("final/z", {"a": 1}, 1),
        Operation("answer/w", {"a": 1}, 1),
        Operation("plain", {"a": 1}, 1),
        Operation("plain", None, 2),
        Operation("tool/deleted", None, 2),
    ]
    labels = [line.split()[2] for line in repr(event(*ops)).splitlines()]
    assert labels == ["TOOL", "NOTE", "NOTE", "FINAL", "FINAL", "WRITE", "DEL", "TOOL"]


def test_a_namespace_other_than_default_is_shown_after_the_time() -> None:
    ev = event(Operation("k", {"a": 1}, 1), ns="prod")
    assert repr(ev) == '12:31:04Z  ns=prod  agent=research-1  WRITE  key=k                     v=1  {"a":1}'


def test_agents_are_cut_at_20_and_keys_at_48_keeping_path_ends() -> None:
    line = format_event_pretty(0, "a" * 30, "write", "k" * 60, 1)
    assert line == f"00:00:00Z  agent={'a' * 17}...  WRITE  key={'k' * 45}...  v=1"
    assert format_key("short") == "short"
    assert format_key("runs/" + "x" * 50 + "/result") == "runs/.../result"
    assert format_key("a/b") == "a/b"
    assert format_key("p" * 30 + "/" + "q" * 30) == "p" * 30 + "/" + "q" * 14 + "..."  # two parts: plain cut
    assert format_key("x" * 10, max_len=8) == "xxxxx..."


def test_value_summaries() -> None:
    assert format_value_summary(None) == "null"
    assert format_value_summary(True) == "true"
    assert format_value_summary(42) == "42"
    assert format_value_summary(0.5) == "0.5"
    assert format_value_summary("line\nbreak") == '"line\\nbreak"'
    assert format_value_summary("x" * 200) == '"' + "x" * 114 + '..."'
    assert format_value_summary([]) == "[]"
    assert format_value_summary({}) == "{}"
    assert format_value_summary({"b": 1, "a": [1, 2]}) == '{"b":1,"a":[1,2]}'  # the value's own order
    big = {f"f{i}": "v" * 20 for i in range(8)}
    assert format_value_summary(big) == "{f0:..., f1:..., n_fields=8}"
    assert format_value_summary({"a": "x" * 130, "b": 1}) == "{a:..., b:...}"
    assert (
        format_value_summary(["y" * 100, "z" * 100, 3]) == '["' + "y" * 24 + '...", "' + "z" * 24 + '...", ...] len=3'
    )
    assert format_value_summary(["y" * 200, 2]) == '["' + "y" * 24 + '...", 2]'
    assert format_value_summary({"k": "v"}, max_len=5) == "{k:...}"


def test_times_are_wall_clock_utc() -> None:
    assert format_ts(0) == "00:00:00Z"
    assert format_ts(1_770_488_464) == "18:21:04Z"
    assert format_ts(AT) == "12:31:04Z"
    assert format_ts(AT.astimezone(timezone(timedelta(hours=2)))) == "12:31:04Z"
    assert format_ts(None) == "--:--:--Z"


def test_the_logical_commit_ts_is_never_printed_as_a_time() -> None:
    ev = ReplayEvent("t", 1_770_488_464, [Operation("k", {"a": 1}, 1)], "default", "a")
    assert repr(ev).startswith("--:--:--Z  agent=a  WRITE")
    assert repr(ReplayEvent("t", 7, [])) == "<ReplayEvent txn_id=t>"


def test_verbose_has_txn_event_index_and_the_complete_payload() -> None:
    payload = {"topic": "distributed databases", "sources": ["paper1.pdf"], "text": "t" * 300}
    ev = event(Operation("context", payload, 3), Operation("gone", None, 4), txn="a3f7b2d1-4c8e-4f12-9a8b")
    assert format_event_lines(ev, verbose=True) == [
        "12:31:04Z  agent=research-1  WRITE  key=context  v=3  txn=a3f7b2d1-4c8  event=0\n"
        f"  payload: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}",
        "12:31:04Z  agent=research-1  DELETE  key=gone  v=4  txn=a3f7b2d1-4c8  event=1",
    ]
    line = format_event_verbose(AT, "a", "write", "k", 1, "t", 0, {"a": 1}, "prod")
    assert line == '12:31:04Z  ns=prod  agent=a  WRITE  key=k  v=1  txn=t  event=0\n  payload: {"a":1}'


def test_pretty_lines_stay_single_lines_under_300_chars_for_hostile_input() -> None:
    hostile = "a\nb\tc\x1b" * 100
    ops = [
        Operation(hostile, {hostile: hostile, "x" + hostile: 1, "y": 2}, 2**64 - 1),
        Operation(hostile, {"s": hostile}, 3),
        Operation(hostile, {"l": [hostile, {hostile: hostile, "b": 1, "c": 2}, 3]}, 3),
        Operation(hostile, None, 1),
    ]
    ev = event(*ops, agent=hostile, txn=hostile, ns=hostile)
    lines = format_event_lines(ev)
    assert len(lines) == 4
    for line in lines:
        assert "\n" not in line and "\x1b" not in line and "\t" not in line
        assert len(line) < 300
    for entry in format_event_lines(ev, verbose=True):
        header, *payload = entry.split("\n")
        assert len(header) < 300 and "\x1b" not in header
        assert len(payload) <= 1


def test_event_json_is_one_compact_line() -> None:
    ev = event(Operation("k", {"a": [1, 2], "s": "é"}, 1), Operation("d", None, 2))
    assert format_event_json(ev.to_dict()) == (
        '{"txn_id":"txn-1","commit_ts":42,"namespace":"default","agent_id":"research-1",'
        '"operations":[{"key":"k","value":{"a":[1,2],"s":"é"},"version":1},{"key":"d","value":null,"version":2}],'
        '"committed_at":"2025-03-04T12:31:04.987000Z"}'
    )
    broken = json.loads(format_event_json({"event_id": 7, "bad": object()}))
    assert (broken["error"], broken["event_id"]) == ("serialization_failed", 7)


def test_to_dict_keeps_the_original_fields_first() -> None:
    ev = event(Operation("k", {"a": [1, 2]}, 1), Operation("d", None, 2))
    assert list(ev.to_dict()) == ["txn_id", "commit_ts", "namespace", "agent_id", "operations", "committed_at"]
    assert ev.to_dict()["operations"] == [
        {"key": "k", "value": {"a": [1, 2]}, "version": 1},
        {"key": "d", "value": None, "version": 2},
    ]
