"""Beam search: keep the ``num_beams`` best partial sequences instead of one.

Greedy decoding commits to the most likely token at every step; beam search keeps a set of
live *beams* (partial continuations of the prompt) and, at each step, extends every beam by
every token and keeps the ``num_beams`` extensions with the highest total log-probability.
A beam that produces the stop token (or reaches ``max_new_tokens``) is *finished*: it leaves
the live set and goes into a pool of finished hypotheses, and the search ends as soon as the
pool holds ``num_beams`` of them. The answer is the finished hypothesis with the best score

    score = logprob / n ** length_penalty,    logprob = sum of log p(token | everything before)

over its n new tokens (the stop token counted). ``length_penalty = 0`` ranks by the total
log-probability, which favors short hypotheses since every token lowers it;
``length_penalty = 1`` ranks by the mean log-probability per token. This is the scoring and
the stopping rule of Hugging Face transformers' ``generate(num_beams=..., do_sample=False,
early_stopping=True, length_penalty=...)``, which the tests use as an oracle.

A worked example with two beams, the 3-token vocabulary {a, b, <s>} and <s> the stop token:

    step 1   p(a) = 0.5, p(b) = 0.4, p(<s>) = 0.1       live: a (log 0.5), b (log 0.4)
    step 2   after a: p(a) = 0.2, p(b) = 0.2, p(<s>) = 0.6
             after b: p(a) = 0.9, p(b) = 0.05, p(<s>) = 0.05
             candidates: b a 0.36, a <s> 0.30, a a 0.10, a b 0.10, ...
             "a <s>" (rank 2) finishes with logprob log 0.30, score log(0.30) / 2 = -0.60;
             live: b a (0.36), a a (0.10)

Greedy would have taken "a" and then stopped with "a <s>" (p = 0.30); beam search also kept
"b", whose continuation "b a" is more likely than anything after "a".
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lmcore.kv_cache import KVCache
from lmcore.validation import check_token_ids, integer, positive_int, real


@dataclass(frozen=True)
class Hypothesis:
    """A finished beam: ``ids`` (1, T + n) is the prompt and n new tokens (the stop token last
    if it was produced), ``logprob`` the sum of the new tokens' log-probabilities (nats) and
    ``score`` = logprob / n ** length_penalty, what the search ranks by."""

    ids: Tensor
    logprob: float
    score: float


@torch.no_grad()
def beam_search(
    model,
    prompt_ids: Tensor,
    num_beams: int,
    max_new_tokens: int,
    *,
    stop_token: int | None = None,
    length_penalty: float = 1.0,
    use_cache: bool = True,
) -> Hypothesis:
    """The best continuation of one prompt ``prompt_ids`` (1, T) found with ``num_beams`` beams.

    Each step extends the live beams (at most num_beams, one at the start) by every token and
    ranks the extensions by their total log-probability. Of the best ``2 * num_beams``, those
    that end in ``stop_token``, or reach ``max_new_tokens``, are finished, provided they rank
    within the first num_beams (a hypothesis must be good enough to be a beam itself); the best
    num_beams of the others stay live. Twice as many candidates are looked at so that, however
    many finish, num_beams beams go on. The search ends when num_beams hypotheses have
    finished, or after max_new_tokens steps, and returns the finished one with the best score
    (see the module's docstring). ``num_beams = 1`` is greedy decoding up to the stop token.

    With ``use_cache`` the prompt is run once and each step feeds the newest token of every
    beam through a ``KVCache`` whose rows are reordered to follow the beams; without it each
    step runs the model on every beam's whole sequence. Both choose the same hypothesis.
    Raises ValueError for a batch of prompts, for counts below 1, for a stop token outside the
    vocabulary and when T + max_new_tokens exceeds the model's block_size.

        >>> best = beam_search(model, torch.tensor([[5, 3]]), num_beams=4, max_new_tokens=10)
        >>> best.ids.shape, best.logprob, best.score   # (1, 2 + n), n <= 10
    """
    vocab_size, block_size = model.config.vocab_size, model.config.block_size
    check_token_ids(prompt_ids, vocab_size, block_size)
    if prompt_ids.size(0) != 1:
        raise ValueError(
            f"beam_search takes one prompt of shape (1, T), got {prompt_ids.size(0)} prompts; "
            "the beams use the batch dimension, so call it once per prompt"
        )
    num_beams = positive_int("num_beams", num_beams, hint="1 is greedy decoding")
    max_new_tokens = positive_int("max_new_tokens", max_new_tokens, hint="a hypothesis needs a token")
    if stop_token is not None:
        integer("stop_token", stop_token, low=0, high=vocab_size - 1, hint="it is a token id")
    length_penalty = real(
        "length_penalty", length_penalty, hint="0 ranks by total log-probability, 1 by its mean"
    )
    prompt_len = prompt_ids.size(1)
    if prompt_len + max_new_tokens > block_size:
        raise ValueError(
            f"prompt length {prompt_len} + max_new_tokens {max_new_tokens} exceeds the "
            f"model's context (block_size = {block_size})"
        )
    was_training = model.training
    model.eval()
    cache = KVCache.for_model(model, 1, max_len=prompt_len + max_new_tokens) if use_cache else None
    beams = prompt_ids  # (N, T + t - 1): the live beams, N <= num_beams
    beam_logprobs = torch.zeros(1, device=prompt_ids.device)  # (N,) sum over each beam's new tokens
    logits = model(prompt_ids, kv_cache=cache)[:, -1]  # (N, V): the next-token logits of each beam
    finished: list[Hypothesis] = []  # best first, at most num_beams
    for t in range(1, max_new_tokens + 1):  # t: the number of new tokens after this step
        total = beam_logprobs[:, None] + F.log_softmax(logits.float(), dim=-1)  # (N, V)
        # rank all N * V extensions together; a flat index is beam * V + token
        top, flat = total.view(-1).topk(min(2 * num_beams, total.numel()))  # (K,) best first
        parent, token = flat // vocab_size, flat % vocab_size  # (K,), (K,)
        ends = torch.full_like(token, t == max_new_tokens, dtype=torch.bool)  # (K,)
        if stop_token is not None:
            ends |= token == stop_token
        for rank in ends[:num_beams].nonzero().flatten().tolist():
            ids = torch.cat([beams[parent[rank]], token[rank : rank + 1]])[None]  # (1, T + t)
            logprob = top[rank].item()
            finished.append(Hypothesis(ids, logprob, logprob / t**length_penalty))
        finished = sorted(finished, key=lambda h: h.score, reverse=True)[:num_beams]
        going_on = (~ends).nonzero().flatten()[:num_beams]  # (N',) ranks of the new live beams
        if len(finished) == num_beams or going_on.numel() == 0:
            break
        parent, token, beam_logprobs = parent[going_on], token[going_on], top[going_on]
        beams = torch.cat([beams[parent], token[:, None]], dim=1)  # (N', T + t)
        if cache is None:
            logits = model(beams)[:, -1]
        else:
            # the subtle step: new beam i continues old beam parent[i], so it must attend to that
            # beam's past. Row b of the cache's (n_layer, B, H, max_len, hd) tensors holds beam b's
            # keys and values; taking the rows in parent order gives each new beam its parent's.
            cache.k, cache.v = cache.k[:, parent], cache.v[:, parent]
            logits = model(token[:, None], kv_cache=cache)[:, -1]
    model.train(was_training)
    return finished[0]
