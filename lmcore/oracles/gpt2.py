"""GPT-2-format weights in and out of the reference GPT.

The format is the state dict of Hugging Face transformers' ``GPT2LMHeadModel``:
the reference GPT uses the same parameter names, with one difference of
layout. GPT-2's linear layers are ``Conv1D`` modules whose weight is stored
(in_features, out_features), the transpose of ``nn.Linear``'s (out, in):

    transformer.h.{i}.attn.c_attn.weight   (C, 3C)     lmcore: (3C, C)
    transformer.h.{i}.attn.c_proj.weight   (C, C)      lmcore: (C, C) transposed
    transformer.h.{i}.mlp.c_fc.weight      (C, 4C)     lmcore: (4C, C)
    transformer.h.{i}.mlp.c_proj.weight    (4C, C)     lmcore: (C, 4C)

Everything else (embeddings, LayerNorms, biases, lm_head.weight, tied to
transformer.wte.weight) is copied as is. Files are plain ``torch.save`` of the
state dict, read back with ``torch.load(weights_only=True)``.
"""

import os
import re
from dataclasses import fields

import torch
from torch import Tensor

from lmcore.model import GPT, GPTConfig

CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
GPT2_SIZES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
# causal-mask buffers that older transformers versions keep in the state dict; not weights
_HF_BUFFER = re.compile(r"transformer\.h\.\d+\.attn\.(bias|masked_bias)")
_LAYER = re.compile(r"transformer\.h\.(\d+)\.")


def _is_conv1d(name: str) -> bool:
    return name.startswith("transformer.h.") and name.endswith(CONV1D_WEIGHTS)


def _normalized(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keys as GPT2LMHeadModel names them, without the mask buffers. GPT2Model and the
    published GPT-2 files leave out the ``transformer.`` prefix; it is added back."""
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise ValueError("a GPT-2 state dict must be a dict mapping parameter names to tensors")
    named = {
        k if k.startswith(("transformer.", "lm_head.")) else "transformer." + k: v for k, v in sd.items()
    }
    return {k: v for k, v in named.items() if not _HF_BUFFER.fullmatch(k)}


def to_gpt2_state_dict(model: GPT) -> dict[str, Tensor]:
    """The model's weights under GPT2LMHeadModel's names and layout (detached copies).

    ``lm_head.weight`` and ``transformer.wte.weight`` are the same tensor, as in
    a tied GPT2LMHeadModel.
    """
    sd = {
        name: p.t().contiguous() if _is_conv1d(name) else p.clone()
        for name, p in model.state_dict().items()
        if name != "lm_head.weight"
    }
    sd["lm_head.weight"] = sd["transformer.wte.weight"]  # tied: one tensor under both names
    return sd


def config_from_gpt2_state_dict(sd: dict[str, Tensor], **overrides) -> GPTConfig:
    """The GPTConfig whose shapes match ``sd``: n_layer, n_embd, vocab_size, block_size.

    n_head does not show in any shape: pass ``n_head=...``, or it is taken from
    the published GPT-2 size with the same n_layer and n_embd. Other GPTConfig
    fields (dropout, layer_norm_eps) may be passed too; an override that
    contradicts the shapes is an error.
    """
    known = [f.name for f in fields(GPTConfig)]
    unknown = sorted(overrides.keys() - set(known))
    if unknown:
        raise ValueError(f"{unknown} are not GPTConfig fields; choose from {known}")
    sd = _normalized(sd)
    for key in ("transformer.wte.weight", "transformer.wpe.weight"):
        if key not in sd or sd[key].dim() != 2:
            raise ValueError(f"a GPT-2 state dict needs a 2-D {key}; keys found: {sorted(sd)[:5]}...")
    vocab_size, n_embd = sd["transformer.wte.weight"].shape
    layers = {int(m.group(1)) for k in sd if (m := _LAYER.match(k))}
    if not layers or layers != set(range(len(layers))):
        raise ValueError(f"layers must be numbered transformer.h.0 ... h.(n-1), found {sorted(layers)}")
    inferred = dict(
        vocab_size=vocab_size,
        n_embd=n_embd,
        block_size=sd["transformer.wpe.weight"].size(0),
        n_layer=len(layers),
    )
    for name, value in overrides.items():
        if name in inferred and value != inferred[name]:
            raise ValueError(f"{name}={value} contradicts the weights, whose shapes give {inferred[name]}")
    if "n_head" not in overrides:
        shapes = {(c.n_layer, c.n_embd): c.n_head for c in map(GPTConfig.gpt2, GPT2_SIZES)}
        if (inferred["n_layer"], n_embd) not in shapes:
            raise ValueError(
                f"the number of heads cannot be read from the weight shapes and n_layer={len(layers)}, "
                f"n_embd={n_embd} is not a published GPT-2 size: pass n_head=..."
            )
        inferred["n_head"] = shapes[inferred["n_layer"], n_embd]
    return GPTConfig(**{**inferred, **overrides})


def from_gpt2_state_dict(sd: dict[str, Tensor], config: GPTConfig | None = None) -> GPT:
    """A reference GPT holding the weights of a GPT-2-format state dict (on the CPU, fp32).

    ``config`` defaults to ``config_from_gpt2_state_dict(sd)``. Accepts the keys
    of GPT2LMHeadModel or of GPT2Model (no ``transformer.`` prefix, no head);
    ``lm_head.weight`` may be absent and, if present, must equal the token
    embedding (the reference GPT ties them). Missing or unexpected keys and wrong
    shapes raise ValueError naming them.
    """
    sd = _normalized(sd)
    head = sd.pop("lm_head.weight", None)
    model = GPT(config_from_gpt2_state_dict(sd) if config is None else config)
    expected = {k: v.shape for k, v in model.state_dict().items() if k != "lm_head.weight"}
    missing, unexpected = sorted(expected.keys() - sd.keys()), sorted(sd.keys() - expected.keys())
    if missing or unexpected:
        raise ValueError(
            f"the state dict does not fit {model.config}: "
            f"missing {missing[:6]}{'...' if len(missing) > 6 else ''}, "
            f"unexpected {unexpected[:6]}{'...' if len(unexpected) > 6 else ''}"
        )
    if head is not None and not torch.equal(head, sd["transformer.wte.weight"]):
        raise ValueError("lm_head.weight differs from transformer.wte.weight, but this GPT ties them")
    converted = {}
    for name, shape in expected.items():
        conv1d = _is_conv1d(name)
        stored = tuple(reversed(shape)) if conv1d else tuple(shape)  # the shape GPT-2's layout holds
        if tuple(sd[name].shape) != stored:
            layout = " (GPT-2's Conv1D layout: (in, out))" if conv1d else ""
            raise ValueError(f"{name}: expected shape {stored}{layout}, got {tuple(sd[name].shape)}")
        converted[name] = sd[name].t() if conv1d else sd[name]
    converted["lm_head.weight"] = converted["transformer.wte.weight"]
    model.load_state_dict(converted)
    return model


def save_gpt2_file(model: GPT, path: str | os.PathLike) -> None:
    """Write the model's GPT-2-format state dict with ``torch.save``."""
    torch.save(to_gpt2_state_dict(model), path)


def load_gpt2_file(path: str | os.PathLike, config: GPTConfig | None = None) -> GPT:
    """Read a GPT-2-format state dict written by ``torch.save`` into a reference GPT."""
    return from_gpt2_state_dict(torch.load(path, map_location="cpu", weights_only=True), config)
