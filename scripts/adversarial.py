"""An adversarial pass over every command: bad inputs must be one line with the documented exit code,
faults must lose no finished cell.

    python scripts/adversarial.py            # bad inputs and faults (about 10 minutes on 2 cores)
    python scripts/adversarial.py --inputs   # bad inputs only (about a minute)

Bad inputs run in one process per command (``pytest.main``, ``impls``' / ``reports``' / ``gate``'s
``main``), each case with its output captured; the faults (scripts/adversarial_faults.py) run real
processes. Prints every failure and the counts; exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_CODE = {"sweep": 4, "impls": 2, "reports": 2, "gate": 3}

DRIVER = textwrap.dedent("""
    import contextlib, io, json, sys, traceback
    kind, cases = sys.argv[1], json.loads(sys.argv[2])

    def call(args):
        if kind == "sweep":
            import pytest
            return int(pytest.main(args))
        if kind == "impls":
            from impls.__main__ import main
        elif kind == "reports":
            from reports.__main__ import main
        else:
            from gate import main
        return main(args)

    answers = []
    for args in cases:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = call(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                code = "raised"
                err.write(traceback.format_exc())
        answers.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    print("ANSWERS " + json.dumps(answers))
""")

AXES_INT = ("seq-lens", "kv-seq-lens", "heads", "head-dims", "batch")
NOT_POSITIVE_INTS = ("", ",", " , ", "0", "-1", "abc", "1.5")


def sweep_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    blocker = tmp / "a-file"
    blocker.write_text("not a folder\n")
    cases = [(f"--attn-{axis} {text!r}", [f"--attn-{axis}={text}"]) for axis in AXES_INT for text in NOT_POSITIVE_INTS]
    cases += [(f"--attn-kv-heads {t!r}", [f"--attn-kv-heads={t}"]) for t in ("", ",", "0", "-2", "h/0", "h/x", "3", "x")]
    cases += [(f"--attn-impls {t!r}", [f"--attn-impls={t}"]) for t in (
        "", ",,,", "nope", "naive,nope", "sliding-window[w=-5]", "sliding-window[", "naive[x=1]", "performer[m=abc]",
        "bigbird[block=0]", "linformer[k=0]", "custom[prune=9/8]", "checkpointed[of=bogus]", "fixed[summary=99]",
        "strided[block=0]", "sliding-window[dilation=0]", "local-attention[w=-1]", "nystrom[m=0]")]
    cases += [(f"--attn-dtypes {t!r}", [f"--attn-dtypes={t}"]) for t in ("", ",", "float8", "int32", "fp33")]
    cases += [(f"--attn-masks {t!r}", [f"--attn-masks={t}"]) for t in (
        "", ",", "bogus", "padding[lengths=abc]", "padding[lengths=-3]", "padding[lengths=0]", "sliding-window[w=-5]",
        "causal[x=1]", "bigbird[block=0]", "longformer[w=-1]", "causal+bogus", "strided[block=0]", "padding[lengths=100000]")]
    cases += [(f"--attn-modes {t!r}", [f"--attn-modes={t}"]) for t in ("", ",", "bwd", "fwd+fwd")]
    cases += [(f"--attn-devices {t!r}", [f"--attn-devices={t}"]) for t in ("", ",", "tpu", "cuda:7", "cuda:x")]
    cases += [(f"--attn-preset {t!r}", [f"--attn-preset={t}"]) for t in ("huge", "Smoke")]
    cases += [(f"--attn-seed {t!r}", [f"--attn-seed={t}"]) for t in ("-1", "1e23", str(10**23), "abc", "")]
    cases += [("--attn-results a file", [f"--attn-results={blocker}"]),
              ("--attn-results under a file", [f"--attn-results={blocker / 'sub'}"])]
    base = ["suites", "--benchmark-only", "--collect-only", "-q", "--attn-preset", "smoke", f"--attn-results={tmp / 'results'}",
            "--attn-no-report"]
    return [(name, base + args) for name, args in cases]


def impls_cases() -> list[tuple[str, list[str]]]:
    return [(" ".join(args), args) for args in (
        ["--mask", "bogus"], ["--mask", "padding[lengths=abc]"], ["--mask", "sliding-window[w=-1]"], ["--mask", "bigbird[block=0]"],
        ["--dtype", "f8"], ["--device", "tpu"], ["--device", "cuda:x"], ["--mode", "bwd"], ["--bogus-flag"], ["--device", ""])]


def record(**changes) -> dict:
    problem = {"batch": 1, "seq_len": 64, "kv_seq_len": 64, "heads": 2, "kv_heads": 2, "head_dim": 16, "dtype": "float32",
               "device": "cpu", "mask": "none", "mode": "fwd"}
    base = {"schema": 1, "run_id": "r", "suite": "core", "cell_id": "naive-x", "impl": "naive", "status": "ok", "problem": problem,
            "time": {"median": 1e-4, "min": 1e-4, "rounds": 3}}
    return {**base, **changes}


def reports_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    files = {
        "empty.jsonl": "", "garbage.jsonl": "this is not json\nnor this\n", "list.jsonl": "[1, 2]\n",
        "no-problem.jsonl": json.dumps({k: v for k, v in record().items() if k != "problem"}) + "\n",
        "problem-empty.jsonl": json.dumps(record(problem={})) + "\n",
        "no-dtype.jsonl": json.dumps(record(problem={k: v for k, v in record()["problem"].items() if k != "dtype"})) + "\n",
        "schema-99.jsonl": json.dumps(record(schema=99)) + "\n", "other.json": json.dumps({"a": 1}),
        "benchmarks-empty.json": json.dumps({"benchmarks": []}), "notes.txt": "hello\n", "good.jsonl": json.dumps(record()) + "\n",
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    (tmp / "binary.jsonl").write_bytes(bytes(range(256)) * 4)
    (tmp / "empty-folder").mkdir(exist_ok=True)
    (tmp / "out-file").write_text("a file where --out should be a folder\n")
    cases = [(f"build {name}", ["build", str(tmp / name)]) for name in [*files, "binary.jsonl", "empty-folder", "missing.jsonl"]
             if name != "good.jsonl"]
    cases += [("build --baseline nope", ["build", str(tmp / "good.jsonl"), "--baseline", "nope", "--out", str(tmp / "o")]),
              ("build --out a file", ["build", str(tmp / "good.jsonl"), "--out", str(tmp / "out-file")]),
              ("build (no result)", ["build"]), ("build --bogus", ["build", "--bogus", str(tmp / "good.jsonl")]),
              ("summary nope", ["summary", "nope", str(tmp / "good.jsonl")]), ("summary garbage", ["summary", "sparse", str(tmp / "garbage.jsonl")]),
              ("(no command)", []), ("unknown command", ["nope"])]
    return cases


def baseline(**changes) -> dict:
    cell = {"id": "c1", "impl": "naive", "status": "ok", "problem": record()["problem"], "median_s": 1e-4, "normalized_log": [0.1] * 10,
            "peak_bytes": 1, "error": {"output": {"max_abs": 0.0, "rel_l2": 0.0}}}
    data = {"schema": 1, "kind": "attnbench-gate-baseline", "machine": {"cpu": "x", "torch": "2"}, "selection": {"impls": "naive"},
            "seed": 0, "reference": {"size": 256, "median_s": 1e-3}, "cells": [cell]}
    for key, value in changes.items():
        if key.startswith("cell_"):
            cell[key[5:]] = value
        else:
            data[key] = value
    return {k: v for k, v in data.items() if v is not None}


def gate_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    broken = {"list": [1], "string": "x", "kind-missing": baseline(kind=None), "no-machine": baseline(machine=None),
              "machine-list": baseline(machine=[1]), "no-reference": baseline(reference=None), "reference-no-median": baseline(reference={}),
              "no-cells": baseline(cells=None), "cells-not-list": baseline(cells=7), "cell-no-log": baseline(cell_normalized_log=None),
              "cell-log-strings": baseline(cell_normalized_log=["a"]), "cell-no-id": baseline(cell_id=None),
              "cell-no-median": baseline(cell_median_s=None), "no-selection": baseline(selection=None)}
    cases = []
    for name, data in broken.items():
        path = tmp / f"baseline-{name}.json"
        path.write_text(json.dumps(data))
        cases.append((f"--baseline {name}", ["--baseline", str(path)]))
    (tmp / "not-json.json").write_text("{nope")
    cases += [("--baseline not JSON", ["--baseline", str(tmp / "not-json.json")]),
              ("--baseline missing", ["--baseline", str(tmp / "missing.json")])]
    cases += [(" ".join(a), a) for a in (
        [], ["--base", "no-such-ref-xyz"], ["--head", "HEAD"], ["--base", "HEAD", "--pairs", "3"], ["--base", "HEAD", "--floor", "120"],
        ["--base", "HEAD", "--alpha", "2"], ["--base", "HEAD", "--workers", "0"], ["--base", "HEAD", "--calls", "0"],
        ["--base", "HEAD", "--bogus"], ["--base", "HEAD", "--baseline", "x.json"], ["--base", "HEAD", "--pairs", "x"])]
    return [(name, [*args, "--out", str(tmp / "gate-out")]) for name, args in cases]


def judge(kind: str, answer: dict) -> str | None:
    """None when the answer is one line with the documented code, else what is wrong."""
    text = answer["stdout"] + answer["stderr"]
    if answer["code"] != EXPECTED_CODE[kind]:
        return f"exit {answer['code']} (expected {EXPECTED_CODE[kind]})"
    if "Traceback" in text or "INTERNALERROR" in text:
        return "traceback"
    if kind == "gate":
        last = answer["stdout"].strip().splitlines()[-1:] or [""]
        return None if last[0].startswith("gate: 3") and not answer["stderr"].strip() else "no final 'gate: 3' line"
    lines = [line for line in answer["stderr"].splitlines() if line.strip()]
    return None if len(lines) == 1 else f"{len(lines)} lines on stderr"


def run_inputs(tmp: Path) -> tuple[int, list[str]]:
    groups = {"sweep": sweep_cases(tmp), "impls": impls_cases(), "reports": reports_cases(tmp), "gate": gate_cases(tmp)}
    total, failures = 0, []
    for kind, cases in groups.items():
        done = subprocess.run([sys.executable, "-c", DRIVER, kind, json.dumps([args for _, args in cases])], cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
        answers = [line for line in done.stdout.splitlines() if line.startswith("ANSWERS ")]
        if not answers:
            failures += [f"{kind}: the driver died: {done.stderr.strip()[-300:]}"]
            continue
        for (name, _), answer in zip(cases, json.loads(answers[-1][8:])):
            total += 1
            wrong = judge(kind, answer)
            if wrong:
                said = (answer["stderr"].strip() or answer["stdout"].strip()).splitlines()
                failures.append(f"{kind} {name}: {wrong}: {said[-1][:200] if said else '(nothing said)'}")
    return total, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", action="store_true", help="bad inputs only (no faults)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="attnbench-adversarial-") as tmp:
        total, failures = run_inputs(Path(tmp))
        print(f"bad inputs: {total - len(failures)} of {total} a one-line error with the documented exit code")
        for failure in failures:
            print(f"  FAIL {failure}")
        fault_failures = []
        if not args.inputs:
            sys.path.insert(0, str(ROOT / "scripts"))
            from adversarial_faults import run_faults

            count, fault_failures = run_faults(Path(tmp))
            print(f"faults: {count - len(fault_failures)} of {count} lost no finished cell")
            for failure in fault_failures:
                print(f"  FAIL {failure}")
    return 1 if failures or fault_failures else 0


if __name__ == "__main__":
    sys.exit(main())
