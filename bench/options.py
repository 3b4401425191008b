"""The sweep's command-line options, written once: every ``--attn-<axis>`` with its Grid field, parser and help.

The pytest plugin adds them, the session parses them, the gate passes them on to its workers.
Importing this module is cheap (no torch): the parsers import what they need when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def split_list(text: str) -> list[str]:
    """Split on commas outside brackets: ``a,sliding-window[w=1,causal=1],b`` (impls.spec's one splitter)."""
    from impls.spec import split_top_level

    return split_top_level(text)


def positive_int(option: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"--attn-{option}: {text!r} is not an integer (expected positive integers, e.g. 1024,2048)") from None
        if value <= 0:
            raise ValueError(f"--attn-{option}: {value} must be a positive integer")
        return value
    return parse


def parse_kv_heads(text: str) -> int | str:
    if text == "h" or (text.startswith("h/") and text[2:].isdigit() and int(text[2:]) > 0):
        return text
    return positive_int("kv-heads")(text)


def parse_dtype_name(text: str) -> str:
    from impls.problem import parse_dtype

    parse_dtype(text)
    return text


def parse_mode(text: str) -> str:
    from impls.problem import MODES

    if text not in MODES:
        raise ValueError(f"--attn-modes: unknown mode {text!r} (accepted: {', '.join(MODES)})")
    return text


def parse_mask_name(text: str) -> str:
    from impls import parse_mask

    mask = parse_mask(text, 1, 16, 16)  # names and values; what depends on the shape is checked per cell
    if mask is not None:
        mask.check_values()
    return text


def parse_inputs_name(text: str) -> str:
    from impls.inputs import check_inputs

    try:
        return check_inputs(text)
    except ValueError as exc:
        raise ValueError(f"--attn-inputs: {exc}") from None


SEED_MAX = 2**63 - 1  # what every generator the implementations seed (torch, random, numpy's 64-bit) accepts


def parse_seed(text: object) -> int:
    """``--attn-seed``: an integer in 0..2**63-1 (said in one line, not argparse's usage block)."""
    try:
        seed = int(str(text).strip())
    except ValueError:
        raise ValueError(f"--attn-seed: {text!r} is not an integer (accepted: 0 to {SEED_MAX})") from None
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"--attn-seed: {seed} is out of range (accepted: 0 to {SEED_MAX})")
    return seed


def parse_impl_name(text: str) -> str:
    return text  # checked all together by impls.select (unknown names fail with the list of known ones)


@dataclass(frozen=True)
class Axis:
    option: str  # --attn-<option>
    field: str  # the Grid field it replaces
    parse: Callable[[str], object]  # one comma-separated item → its value
    help: str

    @property
    def dest(self) -> str:
        """The option's name in pytest's and the session's option dicts: ``attn_seq_lens`` without the prefix."""
        return self.option.replace("-", "_")


AXES: tuple[Axis, ...] = (
    Axis("impls", "impls", parse_impl_name, "implementations: names, name[param=value] or globs (sdpa*), comma-separated"),
    Axis("seq-lens", "seq_lens", positive_int("seq-lens"), "query sequence lengths, e.g. 1024,4096"),
    Axis("kv-seq-lens", "kv_seq_lens", positive_int("kv-seq-lens"), "key/value sequence lengths (default: same as seq-lens)"),
    Axis("heads", "heads", positive_int("heads"), "query heads"),
    Axis("kv-heads", "kv_heads", parse_kv_heads, "key/value heads: integers dividing heads, h (=heads) or h/N"),
    Axis("head-dims", "head_dims", positive_int("head-dims"), "head dimensions"),
    Axis("batch", "batch", positive_int("batch"), "batch sizes"),
    Axis("dtypes", "dtypes", parse_dtype_name, "float32, float16, bfloat16, float64 (or fp32, fp16, bf16)"),
    Axis("masks", "masks", parse_mask_name, "none, causal, padding, padding[lengths=a/b], a+b, and the sparse family's masks"),
    Axis("modes", "modes", parse_mode, "fwd, fwd+bwd"),
    Axis("inputs", "inputs", parse_inputs_name, "input distributions: gaussian, synthetic, captured:PATH, captured:charlm (shipped)"),
)
AXIS_NAMES = tuple(axis.option for axis in AXES)
PRESET_HELP = "named sweep: smoke, cpu, gpu, full, sparse, linear, design (default: gpu with CUDA, else cpu)"
DEVICES_HELP = "cpu, cuda, cuda:N, comma-separated, or all"


def parse_devices(text: str) -> list[str]:
    """``cpu``, ``cuda``, ``cuda:1``, comma lists, or ``all`` (the CPU and every visible GPU)."""
    import torch

    from impls.problem import parse_device

    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if text.strip() == "all":
        return ["cpu"] + gpus
    if not split_list(text):
        raise ValueError(f"--attn-devices: no device in {text!r} (expected {DEVICES_HELP})")
    devices = []
    for item in split_list(text):
        device = parse_device(item)
        if device.type == "cuda":
            if not gpus:
                raise ValueError(f"--attn-devices: {item} is not available (found: cpu only)")
            index = device.index if device.index is not None else 0
            if index >= len(gpus):
                raise ValueError(f"--attn-devices: {item} is not available (found: cpu, {', '.join(gpus)})")
            devices.append(f"cuda:{index}")
        else:
            devices.append("cpu")
    return list(dict.fromkeys(devices))


def parse_overrides(options: dict[str, str | None]) -> dict[str, tuple]:
    """Grid field → values, from ``{"seq_lens": "1024,2048", ...}`` (None or empty: not overridden)."""
    from impls import select

    from .presets import resolve_kv_heads

    overrides: dict[str, tuple] = {}
    for axis in AXES:
        text = options.get(axis.dest)
        if text is None:
            continue
        items = split_list(text)
        if not items:
            raise ValueError(f"--attn-{axis.option}: no value in {text!r} (expected {axis.help})")
        try:
            overrides[axis.field] = tuple(axis.parse(item) for item in items)
        except ValueError as exc:
            raise ValueError(str(exc) if str(exc).startswith("--attn-") else f"--attn-{axis.option}: {exc}") from None
            if axis.field == "impls":
                select(list(overrides["impls"]))  # unknown names fail now, with the list of known ones
    for heads in overrides.get("heads", ()):
        for kv in overrides.get("kv_heads", ()):
            if resolve_kv_heads(kv, heads) is None:
                raise ValueError(f"--attn-kv-heads {kv} does not divide --attn-heads {heads} "
                                 "(kv_heads must divide heads; or use h, h/N)")
    check_inputs_against_axes(overrides)
    return overrides


# Grid field of an axis a captured set fixes → how its values are judged against the set.
_FIXED_BY_CAPTURED = {"heads": "heads", "head_dims": "head_dim", "seq_lens": "length", "kv_seq_lens": "length", "batch": "batch"}


def check_inputs_against_axes(overrides: dict[str, tuple]) -> None:
    """A one-line error when an axis given on the command line cannot fit a captured set given with it.

    Values that come from a preset's grids are not errors: those cells are skipped with the reason."""
    from impls.inputs import captured_target
    from impls.inputs.captured import load

    for spec in overrides.get("inputs", ()):
        target = captured_target(spec)
        if target is None:
            continue
        captured = load(target)
        for field, fact in _FIXED_BY_CAPTURED.items():
            limit = getattr(captured, fact)
            bad = [v for v in overrides.get(field, ()) if v is not None and (v > limit if fact in ("length", "batch") else v != limit)]
            if bad:
                option = next(axis.option for axis in AXES if axis.field == field)
                raise ValueError(f"--attn-{option} {','.join(map(str, bad))} conflicts with --attn-inputs {spec} "
                                 f"(it fixes {captured.facts()})")
        bad_kv = [kv for kv in overrides.get("kv_heads", ()) if kv not in ("h", captured.kv_heads)
                  and not (kv == f"h/{captured.heads // captured.kv_heads}")]
        if bad_kv:
            raise ValueError(f"--attn-kv-heads {','.join(map(str, bad_kv))} conflicts with --attn-inputs {spec} "
                             f"(it fixes {captured.facts()})")


# --- every --attn-* option with its default, as the plugins add them -----------------------------------------
OPTION_DEFAULTS: dict[str, object] = {}  # pytest dest → default; an option away from it means a sweep is asked for


def add_option(group, name: str, **kwargs) -> None:
    """``group.addoption(name, ...)``, remembering the default (see ``OPTION_DEFAULTS``)."""
    dest = name.lstrip("-").replace("-", "_")
    OPTION_DEFAULTS[dest] = kwargs.get("default", False if kwargs.get("action") == "store_true" else None)
    group.addoption(name, **kwargs)


def add_sweep_options(group, default_results: str) -> None:
    add_option(group, "--attn-preset", default=None, help=PRESET_HELP)
    for axis in AXES:
        add_option(group, f"--attn-{axis.option}", default=None, help=f"override every grid's {axis.help}")
    add_option(group, "--attn-devices", default=None, help=DEVICES_HELP)
    add_option(group, "--attn-seed", default="0", help="seed for inputs and random parameters, 0 to 2**63-1 (default 0)")
    add_option(group, "--attn-results", default=default_results, help="results directory (default: results/)")
    add_option(group, "--attn-ignore-budget", action="store_true", help="run cells predicted to exceed the preset's budget")
    add_option(group, "--attn-no-report", action="store_true", help="do not build the HTML report at the end")


def session_options(getoption: Callable[[str], object]) -> dict[str, object]:
    """The session's option dict (preset, devices and every axis) from pytest's ``config.getoption``."""
    options = {"preset": getoption("attn_preset"), "devices": getoption("attn_devices")}
    options.update({axis.dest: getoption(f"attn_{axis.dest}") for axis in AXES})
    return options
