"""Submissions of A6 that the grading must tell apart: mutants (one classic bug each) and
an alternative correct solution written differently from the reference.

A mutant is a list of (grade_id, old, new) edits to the solution notebook's cells, the set
of parts it breaks, and a hint its failure report must contain; every other part keeps
its full points.
"""

from tests.variants import Submissions, namespace  # noqa: F401  (namespace is used by the tests)

A6 = Submissions("A6")
SOLUTION = A6.solution_path
PARTS = ("sampling", "kv_cache", "generate")
COMPONENTS = {
    "sampling": ("apply_temperature", "top_k_filter", "top_p_filter"),
    "kv_cache": ("KVCache",),
    "generate": ("generate",),
}

MUTANTS = {
    "temperature_on_probabilities": (
        [("sampling", "return logits / temperature", "return torch.softmax(logits, dim=-1) / temperature")],
        {"sampling"},
        "applied to probabilities",
    ),
    "top_k_keeps_k_plus_1": (
        [
            (
                "sampling",
                "torch.topk(logits, k, dim=-1)",
                "torch.topk(logits, min(k + 1, logits.size(-1)), dim=-1)",
            )
        ],
        {"sampling"},
        "keeps k+1 tokens",
    ),
    "top_p_one_too_many": (
        [
            (
                "sampling",
                "remove_sorted = cumulative - probs >= p",
                "remove_sorted = torch.nn.functional.pad(cumulative - probs, (1, 0))[..., :-1] >= p",
            )
        ],
        {"sampling"},
        "one token too many",
    ),
    "top_p_one_too_few": (
        [("sampling", "remove_sorted = cumulative - probs >= p", "remove_sorted = cumulative >= p")],
        {"sampling"},
        "one token too few",
    ),
    "cache_position_off_by_one": (
        [
            (
                "kv_cache",
                "start, end = self.length, self.length + k.size(2)",
                "start, end = self.length + 1, self.length + k.size(2) + 1",
            )
        ],
        {"kv_cache"},
        "position off by one",
    ),
    "cache_reset_does_nothing": (
        [("kv_cache", "self.length = 0  # the next update writes at slot 0 again", "pass")],
        {"kv_cache"},
        "reset() does not clear the cache",
    ),
    "generate_never_resets": (
        [("generate", "    kv_cache.reset()\n", "")],
        {"generate"},
        "not reset before the prefill",
    ),
}

# Delegation passes every visible check and loses only the hidden points of its part.
DELEGATING = [
    (
        "sampling",
        "    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V) each\n",
        "    from lmcore.sampling import top_p_filter as reference\n\n    return reference(logits, p)\n",
    )
]

ALTERNATIVE = {
    "sampling": """
def apply_temperature(logits, temperature):
    return logits * (1.0 / temperature)


def top_k_filter(logits, k):
    values, _ = logits.sort(dim=-1, descending=True)
    threshold = values[..., min(k, logits.shape[-1]) - 1, None]
    return torch.where(logits >= threshold, logits, torch.full_like(logits, float("-inf")))


def top_p_filter(logits, p):
    probs = torch.softmax(logits, dim=-1)
    # a token is kept when the tokens strictly more likely than it hold less than p
    more_likely = (probs[..., None, :] > probs[..., :, None]).to(probs.dtype)  # (B, V, V)
    mass_above = (more_likely * probs[..., None, :]).sum(dim=-1)  # (B, V)
    # ties: order tied tokens by index, so exactly the smallest set is kept
    tied_before = (probs[..., None, :] == probs[..., :, None]) & torch.ones(
        probs.shape[-1], probs.shape[-1], dtype=torch.bool
    ).tril(-1)
    mass_above = mass_above + (tied_before.to(probs.dtype) * probs[..., None, :]).sum(dim=-1)
    return logits.masked_fill(mass_above >= p, float("-inf"))
""",
    "kv_cache": """
class KVCache:
    def __init__(self, n_layer, batch_size, n_head, head_dim, max_len, device="cpu", dtype=torch.float32):
        self.keys = [torch.empty(batch_size, n_head, 0, head_dim, device=device, dtype=dtype)] * n_layer
        self.values = list(self.keys)
        self.max_len = max_len
        self.length = 0

    def layer(self, i):
        cache = self

        class View:
            def update(self, k, v):
                cache.keys[i] = torch.cat([cache.keys[i][:, :, : cache.length], k], dim=2)
                cache.values[i] = torch.cat([cache.values[i][:, :, : cache.length], v], dim=2)
                return cache.keys[i], cache.values[i]

        return View()

    def advance(self, t):
        self.length = self.length + t

    def reset(self):
        self.length = 0
""",
    "generate": """
@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
             kv_cache=None, sample=sample_next_token):
    cache = kv_cache or KVCache(model.config.n_layer, idx.shape[0], model.config.n_head,
                                model.config.head_dim, model.config.block_size)
    cache.reset()
    tokens = [idx]
    logits = model(idx, kv_cache=cache)[:, -1]
    for step in range(max_new_tokens):
        tokens.append(sample(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator))
        if step + 1 < max_new_tokens:
            logits = model(tokens[-1], kv_cache=cache)[:, -1]
    return torch.cat(tokens, dim=1)
""",
}


solution_notebook, edited, replaced = A6.solution, A6.edited, A6.replaced
