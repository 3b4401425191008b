"""--attn-inputs end to end: an axis like the others, recorded in every record and in the report's frame;
a captured set's fixed axes are a one-line usage error when given on the command line, a skip reason in grids."""

from __future__ import annotations

import pytest
from test_sweep import SMALL, records, sweep

from bench.options import parse_overrides
from bench.presets import Grid
from reports.frame import tidy_frame


def test_inputs_is_a_sweep_axis_recorded_in_each_cell_and_the_frame(tmp_path):
    result = sweep(tmp_path, *SMALL, "--attn-impls", "sdpa", "--attn-inputs", "gaussian,synthetic")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = records(tmp_path)
    assert [r["problem"]["inputs"] for r in rows] == ["gaussian", "synthetic"]
    assert all(r["status"] == "ok" and r["error"]["output"]["rel_l2"] < 1e-5 for r in rows)
    frame = tidy_frame(rows + [{**rows[0], "problem": {k: v for k, v in rows[0]["problem"].items() if k != "inputs"}}])
    assert list(frame["inputs"]) == ["gaussian", "gaussian", "synthetic"]  # an old record without the field is gaussian
    assert frame["shape"].str.endswith("-synthetic").sum() == 1


@pytest.mark.parametrize("options,message", [
    ({"inputs": "uniform"}, "--attn-inputs: unknown inputs 'uniform' (accepted: gaussian, synthetic, captured:PATH"),
    ({"inputs": "captured:/no/such.safetensors"}, "--attn-inputs: captured set '/no/such.safetensors' not found"),
    ({"inputs": "captured:charlm", "seq_lens": "4096"}, "--attn-seq-lens 4096 conflicts with --attn-inputs captured:charlm"),
    ({"inputs": "synthetic,captured:charlm", "heads": "4"}, "--attn-heads 4 conflicts with --attn-inputs captured:charlm"),
    ({"inputs": "captured:charlm", "kv_heads": "2"}, "--attn-kv-heads 2 conflicts with --attn-inputs captured:charlm"),
    ({"inputs": "captured:charlm", "batch": "1,2"}, "--attn-batch 2 conflicts"),
])
def test_bad_inputs_say_what_is_accepted_in_one_line(options, message):
    with pytest.raises(ValueError) as info:
        parse_overrides(options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_conflicting_axis_is_a_usage_error_of_the_sweep(tmp_path):
    result = sweep(tmp_path, "--attn-preset", "smoke", "--attn-inputs", "captured:charlm", "--attn-seq-lens", "4096")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--attn-seq-lens 4096 conflicts with --attn-inputs captured:charlm (it fixes heads=8" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


def test_grid_cells_a_captured_set_cannot_serve_are_skipped_with_the_reason():
    overrides = parse_overrides({"inputs": "gaussian,captured:charlm", "kv_heads": "h", "heads": "8", "head_dims": "64"})
    grid = Grid(impls=("sdpa",), seq_lens=(256, 4096)).replace(**overrides)
    problems = grid.problems("cpu")
    assert [(p.seq_len, p.inputs) for p in problems] == [(256, "gaussian"), (256, "captured:charlm"),
                                                         (4096, "gaussian"), (4096, "captured:charlm")]
    assert [bool(p.input_conflicts()) for p in problems] == [False, False, False, True]
    from bench.cell import check_capability
    from bench.outcomes import CellOutcome
    from impls import get

    with pytest.raises(CellOutcome) as outcome:
        check_capability(get("sdpa"), problems[3])
    assert outcome.value.code == "inputs" and "seq_len=4096" in outcome.value.message and "captured:charlm fix" in outcome.value.message
