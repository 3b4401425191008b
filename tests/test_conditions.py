"""The conditions a sweep measures under, unit by unit: repeat order, reference rates, CPU shares, threads, progress."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from bench.load import Counters, LoadRecorder, cpu_shares, descendants, load_average
from bench.process_state import apply_process_state, parse_threads, pin_allocator
from bench.progress import Progress, is_live
from bench.reference_rates import REFERENCE_FLOPS, reference_rate
from bench.repeat import parse_repeat, reorder_in_place, shuffled_order


def items(repeats: int, problems: int, impls: int) -> list[tuple[int, int, int]]:
    return [(r, p, i) for r in range(1, repeats + 1) for p in range(problems) for i in range(impls)]


def test_shuffled_order_is_repeat_major_keeps_problems_together_and_is_seeded():
    original = items(3, 5, 4)
    ordered = shuffled_order(original, lambda it: it[0], lambda it: it[1], seed=0)
    assert sorted(ordered) == sorted(original)
    assert [it[0] for it in ordered] == sorted(it[0] for it in ordered)  # repeat 1, then 2, then 3
    for start in range(0, len(ordered), 4):  # the impls of one problem are consecutive (the oracle is reused)
        assert len({it[1] for it in ordered[start:start + 4]}) == 1
    problem_orders = [[it[1] for it in ordered if it[0] == r][::4] for r in (1, 2, 3)]
    assert len({tuple(o) for o in problem_orders}) > 1, "each repeat has its own order"
    assert shuffled_order(original, lambda it: it[0], lambda it: it[1], seed=0) == ordered
    assert shuffled_order(original, lambda it: it[0], lambda it: it[1], seed=1) != ordered


def test_reorder_in_place_leaves_other_items_where_they_were():
    values = ["a", 3, "b", 1, 2, "c"]
    reorder_in_place(values, lambda v: isinstance(v, int), sorted)
    assert values == ["a", 1, "b", 2, 3, "c"]


@pytest.mark.parametrize("text,expected", [(None, 1), ("3", 3), (2, 2)])
def test_parse_repeat(text, expected):
    assert parse_repeat(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "x"])
def test_parse_repeat_rejects_bad_counts(text):
    with pytest.raises(ValueError, match="--attn-repeat"):
        parse_repeat(text)


def test_reference_rate_is_fixed_per_device_kind_and_dtype():
    assert reference_rate("cpu", "torch.float32") == REFERENCE_FLOPS["cpu"]["float32"]
    assert reference_rate("cuda:3", "bfloat16") == REFERENCE_FLOPS["cuda"]["bfloat16"]
    assert reference_rate("cpu", "float16") < reference_rate("cpu", "float32")  # no fast CPU fp16 path
    assert reference_rate("cpu", "float32", (("cpu", "float32", 5e10),)) == 5e10
    assert reference_rate("mps", "float32") == REFERENCE_FLOPS["cpu"]["float32"]  # an unknown kind falls back


def test_cpu_shares_from_synthetic_counters(monkeypatch):
    monkeypatch.setattr("bench.load.clock_ticks_per_second", lambda: 100)
    before = Counters(wall=10.0, ticks=(1000, 5000), own_seconds=1.0)
    # 2 s on 2 CPUs = 400 ticks, 360 of them busy; we used 1.6 s (160 ticks): others used 200 ticks = 50%
    after = Counters(wall=12.0, ticks=(1360, 5400), own_seconds=2.6)
    shares = cpu_shares(before, after, threads=1)
    assert shares["own_cpu_share"] == pytest.approx(0.8)
    assert shares["others_cpu_share"] == pytest.approx(0.5)


def test_descendants_follow_parent_links():
    table = {1: ("init", 0, 0), 10: ("sweep", 1, 0), 11: ("worker", 10, 0), 12: ("child", 11, 0), 20: ("other", 1, 0)}
    assert descendants(table, 10) == {10, 11, 12}


def test_load_recorder_reports_the_run():
    recorder = LoadRecorder(threads=1)
    result = recorder.finish()
    assert result["threads"] == 1 and result["cpus"] >= 1
    assert isinstance(result["load_average_before"], list) == isinstance(load_average(), list)
    assert set(result) >= {"others_cpu_share", "load_average_after", "top_competitors", "wall_s"}


def test_threads_are_set_and_recorded():
    import torch

    before = torch.get_num_threads()
    try:
        state = apply_process_state(1)
        assert state["threads"] == 1 == torch.get_num_threads() and state["threads_requested"] == 1
        assert state["allocator"].startswith(("mallopt", "environment", "not pinned"))
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("text,expected", [(None, None), ("all", None), ("2", 2)])
def test_parse_threads(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "two"])
def test_parse_threads_rejects_bad_counts(text):
    with pytest.raises(ValueError, match="--attn-threads"):
        parse_threads(text)


def test_allocator_pinning_says_what_it_did(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1234")
    assert pin_allocator() == "environment (MALLOC_MMAP_THRESHOLD_=1234)"


def test_progress_counts_and_weights_cells_by_prediction():
    progress = Progress(4, [1.0, 3.0, None, 0.0], enabled=False)
    assert progress.total_predicted == pytest.approx(1.0 + 3.0 + 4.0 / 3 + 0.01)
    for status in ("ok", "skipped", "failed", "oom"):
        progress.advance(status)
    assert progress.summary() == "4/4 cells, 2 skipped, 1 failed"


def test_progress_line_is_drawn_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("ATTNBENCH_PROGRESS", raising=False)
    assert not is_live(io.StringIO())
    tty = SimpleNamespace(isatty=lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    assert is_live(tty) and not is_live(tty, quiet=True)
    monkeypatch.setenv("ATTNBENCH_PROGRESS", "0")
    assert not is_live(tty)


def test_progress_line_shows_cells_and_eta():
    stream = io.StringIO()
    progress = Progress(3, [0.5, 0.5, 2.0], label="attnbench", stream=stream)
    progress.advance("ok", 0.5)
    progress.advance("skipped", 0.5)
    progress.bar.refresh()
    text = stream.getvalue()
    progress.close()
    assert "attnbench 2/3 cells" in text and "1 skipped" in text and "<" in text  # [elapsed<remaining]


def test_progress_grows_when_more_steps_are_added():
    stream = io.StringIO()
    progress = Progress(2, [1.0, 1.0], label="gate: first", stream=stream, unit="pairs")
    progress.advance("ok", 1.0)
    progress.extend(3, 1.0)
    assert progress.total == 5 and progress.bar.total == pytest.approx(5.0)
    progress.close()
    assert progress.summary() == "1/5 pairs"
