"""The course model of 16-gpt, for the assignments after it: load it, encode and decode text.

Assignments from phase 3 on carry three files beside their notebook: this module,
course_model.safetensors (the weights) and course_model.json (configuration, vocabulary and the
recipe that trained it). The model is built as transformers' GPT2LMHeadModel, whose names and
layout 16-gpt's GPT follows, so no assignment hands out 16-gpt's solution:

    from course_model import load_course_model, encode, decode
    model = load_course_model()                  # GPT2LMHeadModel, eval mode, float32
    tokens = encode("ROMEO:")                     # LongTensor (T,)
    logits = model(tokens[None]).logits           # (1, T, 65)

Nothing is downloaded: the configuration is written out here and the weights are read from the
file beside this module.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
WEIGHTS = "course_model.safetensors"
INFO = "course_model.json"
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


@lru_cache(maxsize=1)
def info() -> dict:
    """course_model.json: config (vocab_size, block_size, n_layer, n_head, n_embd), vocabulary, recipe, held-out loss."""
    return json.loads((HERE / INFO).read_text(encoding="utf-8"))


def config() -> dict:
    """The model's sizes: {"vocab_size": 65, "block_size": 256, "n_layer": 4, "n_head": 4, "n_embd": 128}."""
    return dict(info()["config"])


def vocabulary() -> list[str]:
    """The 65 characters of Tiny Shakespeare, in token order (token i is vocabulary()[i])."""
    return list(info()["vocabulary"])


def encode(text: str) -> torch.Tensor:
    """Characters to token ids: LongTensor of shape (len(text),). Raises KeyError on a character outside the vocabulary."""
    index = {ch: i for i, ch in enumerate(vocabulary())}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def decode(tokens) -> str:
    """Token ids (a sequence or 1-D tensor of ints) to text."""
    chars = vocabulary()
    return "".join(chars[int(t)] for t in tokens)


def gpt2_config(**overrides):
    """transformers' GPT2Config with the course model's sizes (or overrides), exact GELU, no dropout."""
    from transformers import GPT2Config  # imported when first used: it takes a few seconds

    sizes = {**config(), **overrides}
    return GPT2Config(vocab_size=sizes["vocab_size"], n_positions=sizes["block_size"], n_embd=sizes["n_embd"],
                      n_layer=sizes["n_layer"], n_head=sizes["n_head"], activation_function="gelu",
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                      bos_token_id=None, eos_token_id=None, tie_word_embeddings=True)  # no end token: newlines do not stop generate()


def new_model(dtype: torch.dtype = torch.float32, **overrides):
    """A GPT2LMHeadModel of the course model's shape (or with `overrides`, e.g. n_layer=2) and random weights."""
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel(gpt2_config(**overrides)).to(dtype)
    model.loss_type = "ForCausalLM"  # named outright, else transformers warns on stderr (which nbgrader counts as a failure)
    return model


def load_course_model(dtype: torch.dtype = torch.float32):
    """The trained course model as a GPT2LMHeadModel in eval mode; model(tokens).logits has shape (B, T, 65)."""
    from safetensors.torch import load_file

    state = load_file(str(HERE / WEIGHTS))
    # 16-gpt stores its (out, in) nn.Linear matrices; GPT-2's Conv1D keeps them as (in, out)
    state = {name: (t.T.contiguous() if name.endswith(CONV1D_WEIGHTS) else t) for name, t in state.items()}
    model = new_model(torch.float32)
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()
