"""The sweep used the way pytest-benchmark users use it, and a quiet console around a broken optional package.

- ``--attn-results DIR`` (space-separated) works for a DIR outside the repository;
- ``--benchmark-autosave`` names its file with the run id;
- cells are parametrized with separate named parameters, so ``--benchmark-group-by=param:impl`` works;
- ``--benchmark-histogram`` writes its SVGs under the results folder, not into the working directory;
- a broken optional package (an xformers built for another torch) is one reason in ``python -m impls``,
  never a warning on the console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--attn-preset", "smoke", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
        "--attn-dtypes", "float32", "--attn-masks", "none", "--attn-modes", "fwd", "--attn-no-report"]
XFORMERS_WARNING = "WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))}
    return {**env, **extra}


def broken_xformers(folder: Path) -> Path:
    """A stand-in for an xformers wheel built for another torch: it imports, logs six lines, and runs nothing."""
    package = folder / "xformers"
    (package / "ops").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(f'''
        import logging
        __version__ = "0.0.0+broken"
        logging.getLogger("xformers").warning(
            "{XFORMERS_WARNING}. xFormers was built for:\\n"
            "    PyTorch 1.0.0+cu100 with CUDA 1000 (you have 2.13.0+cpu)\\n"
            "    Python  3.11.7 (you have 3.11.7)\\n"
            "  Please reinstall xformers (see https://github.com/facebookresearch/xformers#installing-xformers)\\n"
            "  Memory-efficient attention, SwiGLU, sparse and more won't be available.\\n"
            "  Set XFORMERS_MORE_DETAILS=1 for more details")
    '''))
    (package / "ops" / "__init__.py").write_text(textwrap.dedent('''
        from . import fmha
        def memory_efficient_attention(*args, **kwargs):
            raise RuntimeError("xformers C++ extensions are not loaded")
    '''))
    (package / "ops" / "fmha.py").write_text(textwrap.dedent('''
        class Inputs:
            def __init__(self, *args, **kwargs):
                pass
        def _dispatch_fw(inp, needs_grad):
            raise NotImplementedError("No operator found for memory_efficient_attention_forward (extensions not loaded)")
    '''))
    return folder


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> dict:
    """One tiny sweep run as a pytest-benchmark user would, with a broken xformers importable."""
    tmp = tmp_path_factory.mktemp("pytest-benchmark-usage")
    results = tmp / "results folder"  # outside the repository, existing, with a space in its name
    results.mkdir()
    fake = broken_xformers(tmp / "site")
    svgs_before = set(ROOT.glob("*.svg"))
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", "-q", "--attn-results", str(results), *TINY,
               "--attn-impls", "naive,sdpa", "--benchmark-group-by=param:impl", "--benchmark-histogram"]
    done = subprocess.run(command, cwd=ROOT, env=clean_env(PYTHONPATH=os.pathsep.join([str(fake), str(ROOT)])), capture_output=True,
                          text=True, timeout=300)
    return {"done": done, "results": results, "new_svgs": set(ROOT.glob("*.svg")) - svgs_before}


def test_results_option_with_a_space_separated_folder_outside_the_repository(tmp_path):
    # Without a test path pytest takes DIR for a rootdir candidate before any conftest adds the option.
    results = tmp_path / "results"
    results.mkdir()
    command = [sys.executable, "-m", "pytest", "--benchmark-only", "--collect-only", "-q", "--attn-results", str(results), *TINY,
               "--attn-impls", "naive"]
    done = subprocess.run(command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert "unrecognized arguments" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "test_core[" in done.stdout


def test_a_sweep_with_the_space_separated_form_records_its_cells(sweep):
    done = sweep["done"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert list(sweep["results"].glob("*/cells*.jsonl"))


def test_autosave_names_the_benchmark_json_with_the_run_id(sweep):
    (run_dir,) = [p for p in sweep["results"].iterdir() if (p / "run.json").exists()]
    saved = list((sweep["results"] / "benchmarks").rglob("*.json"))
    assert len(saved) == 1 and run_dir.name in saved[0].name, saved


def test_cells_are_parametrized_with_named_axes(sweep):
    assert sweep["done"].returncode == 0, sweep["done"].stdout[-3000:]
    (saved,) = list((sweep["results"] / "benchmarks").rglob("*.json"))
    benchmarks = json.loads(saved.read_text())["benchmarks"]
    for bench in benchmarks:
        for axis in ("impl", "seq_len", "heads", "head_dim", "dtype", "mask", "mode", "device"):
            assert axis in bench["params"], bench["params"]
    assert {b["params"]["impl"] for b in benchmarks} == {"naive", "sdpa"}
    out = sweep["done"].stdout
    assert "benchmark 'impl=naive'" in out and "benchmark 'impl=sdpa'" in out, out[-3000:]


def test_histograms_land_under_the_results_folder(sweep):
    assert not sweep["new_svgs"], f"histograms written into the working copy: {sweep['new_svgs']}"
    assert list(sweep["results"].rglob("*.svg")), sweep["done"].stdout[-2000:] + sweep["done"].stderr[-2000:]


def test_a_broken_optional_package_is_quiet_during_a_sweep(sweep):
    output = sweep["done"].stdout + sweep["done"].stderr
    assert "XFORMERS" not in output, output[-3000:]


def test_a_broken_optional_package_is_one_reason_in_the_capability_matrix(tmp_path):
    fake = broken_xformers(tmp_path / "site")
    done = subprocess.run([sys.executable, "-m", "impls"], cwd=ROOT, env=clean_env(PYTHONPATH=os.pathsep.join([str(fake), str(ROOT)])),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip() == "", done.stderr
    reasons = [line for line in done.stdout.splitlines() if line.strip().startswith("xformers on cpu:")]
    assert any(XFORMERS_WARNING in line for line in reasons), done.stdout[-2000:]
    assert done.stdout.count(XFORMERS_WARNING) == 1
