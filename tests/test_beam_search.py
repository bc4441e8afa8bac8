"""Beam search against two oracles: an exhaustive search over every hypothesis of a tiny
vocabulary, and Hugging Face's beam search on a GPT2LMHeadModel with the same weights."""

import itertools
import re

import pytest
import torch

from lmcore.beam import beam_search
from lmcore.generation import generate
from lmcore.model import GPT, GPTConfig
from lmcore.tolerances import FP32_OP

# 4 tokens, 3 new ones, token 0 stops: 4 + 3 * 4 + 3 * 3 * 4 = 52 hypotheses, at most 4**3 = 64
V, N, STOP = 4, 3, 0
PROMPT = torch.tensor([[1, 2]])


def random_gpt(config: GPTConfig, seed: int, std: float) -> GPT:
    """A GPT with wide random weights: GPT-2's init gives near-uniform logits, where every
    search finds about the same thing."""
    torch.manual_seed(seed)
    model = GPT(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln_" not in name:  # LayerNorms keep their unit scale
                p.normal_(0.0, std)
    return model


@pytest.fixture(scope="module")
def tiny():
    """Seed 20 is chosen so that the three rankings below disagree on this model: greedy's
    answer, the best total log-probability and the best mean log-probability differ."""
    return random_gpt(GPTConfig(block_size=8, vocab_size=V, n_layer=1, n_head=2, n_embd=8), 20, 1.0)


@torch.no_grad()
def exhaustive_best(model, length_penalty: float) -> tuple[list[int], float]:
    """The highest-scoring hypothesis among all of them: new tokens that end in STOP, or N
    tokens without it, each scored by its log-probability / length ** length_penalty."""
    hypotheses = [
        list(t)
        for n in range(1, N + 1)
        for t in itertools.product(range(V), repeat=n)
        if STOP not in t[:-1] and (n == N or t[-1] == STOP)
    ]
    best, best_score = None, -float("inf")
    for new in hypotheses:
        ids = torch.tensor([PROMPT[0].tolist() + new])  # (1, 2 + n)
        logp = torch.log_softmax(model(ids)[0, :-1], dim=-1)  # (1 + n, V): row i predicts token i + 1
        logprob = logp[1:].gather(-1, ids[0, 2:, None]).sum().item()
        score = logprob / len(new) ** length_penalty
        if score > best_score:
            best, best_score = new, score
    return best, best_score


@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_a_beam_as_wide_as_the_tree_finds_the_exhaustive_best(tiny, length_penalty):
    expected, expected_score = exhaustive_best(tiny, length_penalty)
    best = beam_search(tiny, PROMPT, V**N, N, stop_token=STOP, length_penalty=length_penalty)
    assert best.ids[0, 2:].tolist() == expected
    assert abs(best.score - expected_score) <= FP32_OP.atol + FP32_OP.rtol * abs(expected_score)
    assert best.score == pytest.approx(best.logprob / len(expected) ** length_penalty, rel=1e-6)


def test_the_fixture_catches_a_search_that_skips_normalization_or_keeps_one_beam(tiny):
    """A beam search that ignores length_penalty, or keeps only its best beam, returns another
    hypothesis here, so the test above would fail for it."""
    expected, _ = exhaustive_best(tiny, 1.0)
    unnormalized = beam_search(tiny, PROMPT, V**N, N, stop_token=STOP, length_penalty=0.0)
    one_beam = beam_search(tiny, PROMPT, 1, N, stop_token=STOP, length_penalty=1.0)
    assert unnormalized.ids[0, 2:].tolist() != expected
    assert one_beam.ids[0, 2:].tolist() != expected
    assert beam_search(tiny, PROMPT, 2, N, stop_token=STOP).ids[0, 2:].tolist() == expected


def test_one_beam_is_greedy_decoding(tiny):
    greedy = generate(tiny, PROMPT, N, temperature=0, stop_token=STOP)
    assert torch.equal(beam_search(tiny, PROMPT, 1, N, stop_token=STOP).ids, greedy)


@pytest.mark.parametrize("num_beams", [2, 5])
def test_the_cache_follows_the_beams(num_beams):
    model = random_gpt(GPTConfig(block_size=32, vocab_size=12, n_layer=2, n_head=2, n_embd=16), 2, 0.25)
    prompt = torch.tensor([[1, 2, 3]])
    cached = beam_search(model, prompt, num_beams, 10, stop_token=0, use_cache=True)
    uncached = beam_search(model, prompt, num_beams, 10, stop_token=0, use_cache=False)
    assert torch.equal(cached.ids, uncached.ids)
    assert cached.score == pytest.approx(uncached.score, abs=FP32_OP.atol)


@pytest.fixture(scope="module")
def small_pair():
    """A random GPT with 12 tokens and the same weights in transformers' GPT2LMHeadModel."""
    pytest.importorskip("transformers")
    from lmcore.course.bench import hf_gpt2

    model = random_gpt(GPTConfig(block_size=32, vocab_size=12, n_layer=2, n_head=2, n_embd=16), 2, 0.25)
    return model, hf_gpt2(model)


@pytest.mark.parametrize(
    "num_beams, length_penalty, stop_token",
    [(1, 1.0, 0), (2, 0.0, 0), (3, 0.0, 0), (3, 1.0, 0), (5, 0.0, None), (5, 2.0, 0)],
)
def test_matches_hugging_face_beam_search(small_pair, num_beams, length_penalty, stop_token):
    model, hf = small_pair
    prompt = torch.tensor([[1, 2, 3]])
    out = hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        num_beams=num_beams,
        do_sample=False,
        early_stopping=True,
        length_penalty=length_penalty,
        max_new_tokens=8,
        eos_token_id=stop_token,
        pad_token_id=0,
        return_dict_in_generate=True,
        output_scores=True,
    )
    best = beam_search(model, prompt, num_beams, 8, stop_token=stop_token, length_penalty=length_penalty)
    assert best.ids.tolist() == out.sequences.tolist()
    if num_beams > 1:  # with one beam, generate runs greedy search and reports no sequence score
        expected = out.sequences_scores.item()
        assert abs(best.score - expected) <= FP32_OP.atol + FP32_OP.rtol * abs(expected)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(prompt_ids=torch.tensor([[1, 2], [2, 3]])), ValueError, "one prompt of shape"),
        (dict(prompt_ids=torch.tensor([1, 2])), ValueError, "shape (B, T)"),
        (dict(num_beams=0), ValueError, "num_beams must be >= 1"),
        (dict(num_beams=2.0), TypeError, "num_beams must be an int"),
        (dict(max_new_tokens=0), ValueError, "max_new_tokens must be >= 1"),
        (dict(max_new_tokens=7), ValueError, "exceeds the model's context"),
        (dict(stop_token=V), ValueError, "stop_token must be in [0, 3]"),
        (dict(length_penalty=float("nan")), ValueError, "length_penalty must be finite"),
    ],
)
def test_bad_arguments_say_what_to_fix(tiny, kwargs, error, message):
    args = dict(prompt_ids=PROMPT, num_beams=2, max_new_tokens=N) | kwargs
    with pytest.raises(error, match=re.escape(message)):
        beam_search(tiny, **args)
