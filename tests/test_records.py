"""The typed cell record (store.records), its one reader, Problem.from_dict and the one problem label."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from store.records import SCHEMA_VERSION, CellRecord, RecordFileError, RunInfo, problem_label, read_cells, read_run

RECORD = {"schema": 1, "run_id": "r1", "suite": "core", "cell_id": "sdpa-b1-h4-L64-d32-float32-nomask-fwd-cpu", "preset": "smoke",
          "timestamp": 1.5, "commit": None, "impl": "sdpa", "impl_base": "sdpa", "family": "exact", "exact": True,
          "impl_version": "2.13", "params": {}, "problem": {"batch": 1, "seq_len": 64, "kv_seq_len": 64, "heads": 4, "kv_heads": 4,
          "head_dim": 32, "dtype": "float32", "device": "cpu", "mask": "none", "mask_kind": "none", "dropout": 0.0, "mode": "fwd",
          "scale": 32 ** -0.5}, "device_name": "CPU", "machine": {"host": "vm"}, "status": "ok", "reason_code": None, "reason": None,
          "predicted_call_seconds": 1e-5, "build_ms": 0.1, "error": {"output": {"max_abs": 1e-7, "rel_l2": 2e-7, "finite": True}},
          "tolerance": None, "peak_bytes": 4096, "time": {"median": 2e-5, "data": [2e-5]}, "profile": {"status": "ok"}}


def test_a_record_reads_and_writes_back_byte_for_byte():
    line = json.dumps(RECORD)
    record = CellRecord.from_dict(json.loads(line))
    assert json.dumps(record.to_dict()) == line  # fields it does not type (profile, build_ms) keep their place
    assert (record.impl, record.status, record.peak_bytes, record.median_s, record.host, record.device) == ("sdpa", "ok", 4096, 2e-5, "vm", "cpu")
    assert record.output_error["rel_l2"] == 2e-7
    run = {"schema": 1, "run_id": "r1", "preset": "smoke", "machine": {"host": "vm"}, "custom": [1]}
    assert json.dumps(RunInfo.from_dict(run).to_dict()) == json.dumps(run)


def test_the_reader_checks_the_schema_and_names_file_and_line(tmp_path):
    path = tmp_path / "cells.jsonl"
    newer = {**RECORD, "schema": SCHEMA_VERSION + 1}
    path.write_text(json.dumps(RECORD) + "\n" + json.dumps(newer) + "\n")
    with pytest.raises(RecordFileError) as caught:
        read_cells(path)
    message = str(caught.value)
    assert f"{path}: line 2 has schema {SCHEMA_VERSION + 1}, newer than" in message and "\n" not in message
    path.write_text(json.dumps({**RECORD, "schema": "one"}) + "\n")
    with pytest.raises(RecordFileError, match="line 1 has schema 'one'"):
        read_cells(path)


def test_an_interrupted_last_line_is_left_out_with_a_note(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"schema": 1, "run_id": "r1", "preset": "smoke"}))
    (tmp_path / "cells.jsonl").write_text(json.dumps(RECORD) + "\n" + json.dumps(RECORD)[:40])
    info, records, notes = read_run(tmp_path)
    assert info.preset == "smoke" and len(records) == 1 and "line 2 is incomplete" in notes[0]


def test_store_never_imports_torch():
    code = "import sys, store, store.records; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_problem_from_dict_inverts_to_dict_and_keeps_the_label():
    torch = pytest.importorskip("torch")
    from impls import Problem

    problems = [Problem(1, 128, 4, 32), Problem(2, 100, 8, 16, kv_heads=2, kv_seq_len=60, mask="causal", mode="fwd+bwd", dtype=torch.bfloat16),
                Problem(1, 64, 2, 16, scale=1.0, dropout=0.1), Problem(1, 64, 2, 16, extra=(("model_dim", 32),)),
                Problem(2, 50, 2, 16, mask="padding[lengths=30/50]"), Problem(1, 256, 2, 16, mask="sliding-window[w=32]")]
    for problem in problems:
        fields = json.loads(json.dumps(problem.to_dict()))  # as a record holds it
        again = Problem.from_dict(fields)
        assert again == problem and again.to_dict() == problem.to_dict()
        assert problem.id() == problem_label(fields)


def test_the_label_written_out():
    fields = {**RECORD["problem"], "kv_heads": 2, "kv_seq_len": 128, "mask": "causal", "mask_kind": "causal", "scale": 1.0, "model_dim": 128}
    assert problem_label(fields) == "b1-h4kv2-L64x128-d32-float32-causal-fwd-cpu-s1-model_dim128"
    assert problem_label(fields, length=False, device=False) == "b1-h4kv2-cross-d32-float32-causal-fwd-s1-model_dim128"
