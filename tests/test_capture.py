"""`python -m impls capture`: a tiny model's SDPA calls recorded in order with their arguments, saved,
and served back as `captured:PATH` inputs; bad models and options are one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from impls import Problem
from impls.__main__ import main
from impls.capture import read_metadata

TINY_MODEL = textwrap.dedent('''
    import torch
    import torch.nn.functional as F

    class Tiny(torch.nn.Module):
        """Three attention layers: causal, with an explicit scale, and with a padding mask."""
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.proj = torch.nn.ModuleList(torch.nn.Linear(32, 96) for _ in range(3))

        def qkv(self, layer, x):
            return self.proj[layer](x).view(x.shape[0], x.shape[1], 3, 4, 8).permute(2, 0, 3, 1, 4)

        def forward(self, x):
            q, k, v = self.qkv(0, x)
            x = x + F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).flatten(2)
            q, k, v = self.qkv(1, x)
            x = x + F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], scale=0.5, enable_gqa=True).transpose(1, 2).flatten(2)
            q, k, v = self.qkv(2, x)
            keep = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool)
            keep[:, -3:] = False
            return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)

    def factory(length=40):
        return Tiny(), (torch.randn(2, length, 32, generator=torch.Generator().manual_seed(1)),)
''')


@pytest.fixture
def tiny_model(tmp_path, monkeypatch):
    (tmp_path / "tiny_attention_model.py").write_text(TINY_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "tiny_attention_model:factory"


def test_capture_records_every_call_in_order_and_serves_it_as_inputs(tiny_model, tmp_path, capsys):
    out = tmp_path / "tiny.safetensors"
    assert main(["capture", tiny_model, "--out", str(out), "--length", "24"]) == 0
    assert "captured 3 scaled_dot_product_attention calls" in capsys.readouterr().out
    calls = read_metadata(out)["calls"]
    assert [c["query_shape"] for c in calls] == [[2, 4, 24, 8]] * 3
    assert [c["key_shape"] for c in calls] == [[2, 4, 24, 8], [2, 2, 24, 8], [2, 4, 24, 8]]
    assert [c["is_causal"] for c in calls] == [True, False, False]
    assert [c["scale"] for c in calls] == [None, 0.5, None] and calls[1]["enable_gqa"]
    assert calls[0]["mask"] is None and calls[2]["mask"] == {"shape": [24, 24], "dtype": "bool", "kind": "tensor"}
    # The first layer's q, recomputed here from the model's own weights, is what the set serves.
    import tiny_attention_model

    model, (x,) = tiny_attention_model.factory(24)
    q_expected = model.qkv(0, x)[0].detach()
    q, k, v = Problem(batch=2, seq_len=24, heads=4, head_dim=8, inputs=f"captured:{out}").make_inputs()
    torch.testing.assert_close(q, q_expected.half().float(), rtol=0, atol=0)
    assert k.shape == v.shape == (2, 4, 24, 8)


def test_capture_keeps_only_the_chosen_layers(tiny_model, tmp_path):
    out = tmp_path / "layer1.safetensors"
    assert main(["capture", tiny_model, "--out", str(out), "--layers", "1", "--dtype", "float32"]) == 0
    metadata = read_metadata(out)
    assert metadata["kept"] == [1] and len(metadata["calls"]) == 3 and metadata["storage_dtype"] == "float32"
    problem = Problem(batch=2, seq_len=40, heads=4, kv_heads=2, head_dim=8, inputs=f"captured:{out}")
    q, k, v = problem.make_inputs()
    assert q.shape == (2, 4, 40, 8) and k.shape == (2, 2, 40, 8)
    # layer 1 used scale 0.5: queries are rescaled so the problem's default scale gives the same logits
    assert problem.with_(scale=0.5).make_inputs()[0].mul(0.5).allclose(q * 8 ** -0.5)


@pytest.mark.parametrize("argv,message", [
    (["nowhere"], "neither a directory nor package.module:factory"),
    (["no_such_module_xyz:factory"], "cannot load factory"),
    (["tiny_attention_model:factory", "--layers", "7"], "--layers 7 out of range (the model made 3 calls"),
    (["tiny_attention_model:factory", "--layers", "a"], "expected call indices"),
])
def test_capture_errors_are_one_line(tiny_model, tmp_path, capsys, argv, message):
    assert main(["capture", *argv, "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_directory_that_is_not_a_local_model_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "text.txt").write_text("x = 1\n")
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    assert main(["capture", str(empty), "--text", str(tmp_path / "text.txt"), "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert ("without downloading" in err or "needs the transformers package" in err) and "\n" not in err


def test_a_file_that_is_not_a_captured_set_is_a_one_line_error(tmp_path):
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not a safetensors file") as info:
        Problem(batch=1, seq_len=8, heads=1, head_dim=8, inputs=f"captured:{bogus}").make_inputs()
    assert "\n" not in str(info.value)


def test_capture_runs_as_a_command(tiny_model, tmp_path):
    out = tmp_path / "cli.safetensors"
    env_path = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "impls", "capture", tiny_model, "--out", str(out)], capture_output=True,
                            text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "3 scaled_dot_product_attention calls" in result.stdout
    assert json.loads(json.dumps(read_metadata(out)))["format"] == "attnbench-captured/1"


def test_transformers_model_from_a_config_is_captured_without_downloading(tmp_path, capsys):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install attnbench[capture])")
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(tmp_path / "llama")
    _write_char_tokenizer(transformers, tmp_path / "llama")
    (tmp_path / "text.txt").write_text("def f(x):\n    return x * 2\n" * 20)
    out = tmp_path / "llama.safetensors"
    assert main(["capture", str(tmp_path / "llama"), "--text", str(tmp_path / "text.txt"), "--length", "100", "--out", str(out)]) == 0
    calls = read_metadata(out)["calls"]
    assert len(calls) == 3 and all(c["query_shape"][:2] == [1, 4] and c["query_shape"][3] == 16 for c in calls)
    print(capsys.readouterr().out)


def _write_char_tokenizer(transformers, directory):
    """A character tokenizer saved beside the model, so loading needs no download."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocabulary = {chr(c): i for i, c in enumerate(range(32, 95))}
    vocabulary["[UNK]"] = len(vocabulary)
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(directory)
