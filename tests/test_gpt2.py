"""GPT-2-format weights: Hugging Face's GPT2LMHeadModel is the oracle, both directions."""

import pytest
import torch
import transformers

from lmcore.model import GPT, GPTConfig
from lmcore.oracles.gpt2 import (
    GPT2_SIZES,
    config_from_gpt2_state_dict,
    from_gpt2_state_dict,
    load_gpt2_file,
    save_gpt2_file,
    to_gpt2_state_dict,
)
from lmcore.tolerances import FP32_MODEL

CONFIG = GPTConfig(block_size=64, vocab_size=100, n_layer=2, n_head=4, n_embd=32)


def hf_gpt2(seed: int = 0) -> transformers.GPT2LMHeadModel:
    """A tiny GPT2LMHeadModel with random weights, large enough to make every layout mistake show."""
    hf_config = transformers.GPT2Config(
        n_layer=CONFIG.n_layer,
        n_head=CONFIG.n_head,
        n_embd=CONFIG.n_embd,
        n_positions=CONFIG.block_size,
        vocab_size=CONFIG.vocab_size,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # GPT-2's init is too gentle: logits barely move
            if "ln" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.2)
    return model


@pytest.fixture(scope="module")
def hf_model():
    return hf_gpt2()


@pytest.fixture
def idx():
    return torch.randint(
        0, CONFIG.vocab_size, (3, CONFIG.block_size), generator=torch.Generator().manual_seed(1)
    )


def lmcore_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(CONFIG).eval()


@torch.no_grad()
def test_hf_weights_give_hf_logits(hf_model, idx):
    model = from_gpt2_state_dict(hf_model.state_dict(), CONFIG).eval()
    expected = hf_model(idx).logits
    assert expected.abs().max() > 2  # the comparison is not between near-zero numbers
    assert FP32_MODEL.close(model(idx), expected).all()


@torch.no_grad()
def test_a_square_weight_left_untransposed_is_caught(hf_model, idx):
    """attn.c_proj is (C, C): loading it in the wrong layout passes every shape check, so only
    the logits can tell; the tolerance must be tight enough to see it."""
    sd = dict(hf_model.state_dict())
    sd["transformer.h.1.attn.c_proj.weight"] = sd["transformer.h.1.attn.c_proj.weight"].t()
    model = from_gpt2_state_dict(sd, CONFIG).eval()
    assert not FP32_MODEL.close(model(idx), hf_model(idx).logits).all()


@torch.no_grad()
def test_exported_weights_load_strictly_into_hf(idx):
    model = lmcore_gpt()
    hf_model = hf_gpt2(seed=1)
    hf_model.load_state_dict(to_gpt2_state_dict(model), strict=True)
    assert hf_model.lm_head.weight.data_ptr() == hf_model.transformer.wte.weight.data_ptr()
    assert FP32_MODEL.close(hf_model(idx).logits, model(idx)).all()


def test_export_has_hf_names_shapes_and_is_a_copy(hf_model):
    model = lmcore_gpt()
    sd = to_gpt2_state_dict(model)
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in hf_model.state_dict().items()}
    sd["transformer.h.0.mlp.c_fc.bias"].add_(1.0)
    assert not torch.equal(sd["transformer.h.0.mlp.c_fc.bias"], model.transformer.h[0].mlp.c_fc.bias)


def test_round_trips_are_exact(hf_model, tmp_path):
    model = lmcore_gpt()
    back = from_gpt2_state_dict(to_gpt2_state_dict(model), CONFIG)
    for name, w in model.state_dict().items():
        assert torch.equal(back.state_dict()[name], w), name
    hf_sd = hf_model.state_dict()
    for name, w in to_gpt2_state_dict(from_gpt2_state_dict(hf_sd, CONFIG)).items():
        assert torch.equal(w, hf_sd[name]), name
    save_gpt2_file(model, tmp_path / "tiny.pt")
    loaded = load_gpt2_file(tmp_path / "tiny.pt", CONFIG)
    for name, w in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], w), name


@torch.no_grad()
def test_published_file_layout_loads(hf_model, idx):
    """The GPT-2 files on the Hub are GPT2Model state dicts: no ``transformer.`` prefix, no
    lm_head, and (from older transformers) causal-mask buffers that are not weights."""
    sd = {
        k.removeprefix("transformer."): v for k, v in hf_model.state_dict().items() if k != "lm_head.weight"
    }
    for i in range(CONFIG.n_layer):
        sd[f"h.{i}.attn.bias"] = torch.ones(1, 1, CONFIG.block_size, CONFIG.block_size).tril()
        sd[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    model = from_gpt2_state_dict(sd, CONFIG).eval()
    assert FP32_MODEL.close(model(idx), hf_model(idx).logits).all()


def test_config_is_inferred_from_shapes():
    sd = to_gpt2_state_dict(lmcore_gpt())
    assert config_from_gpt2_state_dict(sd, n_head=4) == CONFIG
    assert config_from_gpt2_state_dict(sd, n_head=8, dropout=0.1) == GPTConfig(
        block_size=64, vocab_size=100, n_layer=2, n_head=8, n_embd=32, dropout=0.1
    )
    model = from_gpt2_state_dict(sd, config_from_gpt2_state_dict(sd, n_head=4))
    assert model.config == CONFIG


@pytest.mark.parametrize("size", GPT2_SIZES)
def test_gpt2_sizes_get_their_number_of_heads(size):
    with torch.device("meta"):  # shapes only
        sd = to_gpt2_state_dict(GPT(GPTConfig.gpt2(size)))
    assert config_from_gpt2_state_dict(sd) == GPTConfig.gpt2(size)


def test_n_head_is_required_for_other_sizes():
    sd = to_gpt2_state_dict(lmcore_gpt())
    with pytest.raises(ValueError, match=r"n_layer=2, n_embd=32 is not a published GPT-2 size: pass n_head"):
        config_from_gpt2_state_dict(sd)
    with pytest.raises(ValueError, match="n_head"):
        from_gpt2_state_dict(sd)
    with pytest.raises(ValueError, match="needs a 2-D transformer.wpe.weight"):
        config_from_gpt2_state_dict(without(sd, "transformer.wpe.weight"), n_head=4)


def test_overrides_may_not_contradict_the_shapes():
    sd = to_gpt2_state_dict(lmcore_gpt())
    with pytest.raises(ValueError, match=r"\['n_heads'\] are not GPTConfig fields"):
        config_from_gpt2_state_dict(sd, n_heads=4)
    with pytest.raises(ValueError, match="vocab_size=50257 contradicts the weights, whose shapes give 100"):
        config_from_gpt2_state_dict(sd, n_head=4, vocab_size=50257)


def without(sd: dict, key: str) -> dict:
    return {k: v for k, v in sd.items() if k != key}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda sd: without(sd, "transformer.h.1.ln_2.bias"), r"missing \['transformer.h.1.ln_2.bias'\]"),
        (lambda sd: {**sd, "transformer.h.0.attn.rotary": torch.zeros(3)}, "unexpected.*attn.rotary"),
        (
            lambda sd: {
                **sd,
                "transformer.h.0.attn.c_attn.weight": sd["transformer.h.0.attn.c_attn.weight"].t(),
            },
            r"c_attn.weight: expected shape \(32, 96\) \(GPT-2's Conv1D layout: \(in, out\)\), "
            r"got \(96, 32\)",
        ),
        (
            lambda sd: {**sd, "transformer.ln_f.weight": torch.ones(33)},
            r"ln_f.weight: expected shape \(32,\), got \(33,\)",
        ),
        (
            lambda sd: {**sd, "lm_head.weight": sd["lm_head.weight"] + 1},
            "lm_head.weight differs from transformer.wte.weight",
        ),
        (lambda sd: without(sd, "transformer.wte.weight"), r"missing \['transformer.wte.weight'\]"),
        (lambda sd: {**sd, "transformer.ln_f.weight": [1.0] * 32}, "mapping parameter names to tensors"),
    ],
    ids=[
        "missing",
        "unexpected",
        "not_transposed",
        "wrong_shape",
        "untied_head",
        "no_embedding",
        "not_tensor",
    ],
)
def test_bad_state_dicts_are_explained(edit, message):
    sd = edit(to_gpt2_state_dict(lmcore_gpt()))
    with pytest.raises(ValueError, match=message):
        from_gpt2_state_dict(sd, CONFIG)


def test_wrong_number_of_layers_is_explained():
    sd = to_gpt2_state_dict(lmcore_gpt())
    with pytest.raises(ValueError, match=r"unexpected \['transformer.h.1"):
        from_gpt2_state_dict(sd, GPTConfig(block_size=64, vocab_size=100, n_layer=1, n_head=4, n_embd=32))
    gap = {k.replace("transformer.h.1.", "transformer.h.2."): v for k, v in sd.items()}
    with pytest.raises(ValueError, match=r"numbered transformer.h.0 ... h.\(n-1\), found \[0, 2\]"):
        config_from_gpt2_state_dict(gap, n_head=4)
