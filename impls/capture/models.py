"""Load the model to capture: a local Hugging Face transformers directory or a ``module:factory``.

Nothing is downloaded: a transformers directory is opened with ``local_files_only=True``, and a
factory is the user's own code. Either way the result is a zero-argument forward pass.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import torch


def load_forward(spec: str, text_file: str | None = None, length: int | None = None) -> tuple[Callable[[], object], str]:
    """(run, description): ``run()`` performs the model's forward pass on its inputs."""
    if Path(spec).is_dir():
        return _transformers_forward(Path(spec), text_file, length)
    if ":" in spec:
        return _factory_forward(spec, length)
    raise ValueError(f"model {spec!r} is neither a directory nor package.module:factory "
                     "(accepted: a local transformers model directory, or a module:function returning (model, inputs))")


def _factory_forward(spec: str, length: int | None):
    module_name, _, attribute = spec.partition(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` does, so a local script module is found
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load factory {spec!r}: {exc}") from None
    accepts_length = "length" in inspect.signature(factory).parameters
    model, inputs = factory(length=length) if accepts_length and length else factory()
    if isinstance(model, torch.nn.Module):
        model.eval()
    return lambda: _call(model, inputs), f"factory {spec}"


def _call(model, inputs):
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _transformers_forward(directory: Path, text_file: str | None, length: int | None):
    try:
        import transformers
    except ImportError:
        raise ValueError("a model directory needs the transformers package (pip install transformers)") from None
    if text_file is None:
        raise ValueError("a transformers model needs --text FILE (the text whose attention is captured)")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = _load_transformers_model(transformers, directory)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load {directory} without downloading: {str(exc).splitlines()[0]}") from None
    text = Path(text_file).read_text(encoding="utf-8", errors="replace")
    encoded = tokenizer(text, return_tensors="pt", truncation=length is not None, max_length=length)
    model.eval()
    return lambda: model(**encoded), f"transformers {type(model).__name__} from {directory}"


def _load_transformers_model(transformers, directory: Path):
    """The causal-LM class the checkpoint was saved as when there is one (its weights all load), else the base model."""
    options = {"local_files_only": True, "attn_implementation": "sdpa"}
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(directory, **options)
    except ValueError:  # not a causal language model (an encoder, say): the base model still attends
        return transformers.AutoModel.from_pretrained(directory, **options)
