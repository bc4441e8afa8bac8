"""A6's variants (see tests/variants/__init__.py for the format)."""

MUTANTS = {
    "sampling": {
        "temperature_on_probabilities": [
            ("sampling", "return logits / temperature", "return torch.softmax(logits, dim=-1) / temperature")
        ],
        "temperature_multiplies": [
            ("sampling", "return logits / temperature", "return logits * temperature")
        ],
        "temperature_not_checked": [("sampling", "    if temperature <= 0:\n", "    if False:\n")],
        "top_k_keeps_k_plus_1": [
            (
                "sampling",
                "torch.topk(logits, k, dim=-1)",
                "torch.topk(logits, min(k + 1, logits.size(-1)), dim=-1)",
            )
        ],
        "top_k_keeps_k_minus_1": [
            ("sampling", "logits.masked_fill(logits < kth", "logits.masked_fill(logits <= kth")
        ],
        "top_k_drops_ties": [
            (
                "sampling",
                "    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): the k-th largest logit\n"
                '    return logits.masked_fill(logits < kth, float("-inf"))',
                "    top = torch.topk(logits, k, dim=-1).indices\n"
                '    return torch.full_like(logits, float("-inf")).scatter(-1, top, logits.gather(-1, top))',
            )
        ],
        "top_k_in_place": [
            (
                "sampling",
                'return logits.masked_fill(logits < kth, float("-inf"))',
                'return logits.masked_fill_(logits < kth, float("-inf"))',
            )
        ],
        "top_k_not_checked": [("sampling", "    if k < 1:\n", "    if False:\n")],
        "top_p_one_too_many": [
            (
                "sampling",
                "remove_sorted = cumulative - probs >= p",
                "remove_sorted = torch.nn.functional.pad(cumulative - probs, (1, 0))[..., :-1] >= p",
            )
        ],
        "top_p_one_too_few": [
            ("sampling", "remove_sorted = cumulative - probs >= p", "remove_sorted = cumulative >= p")
        ],
        "top_p_not_unsorted": [
            ("sampling", "remove = remove_sorted.scatter(-1, order, remove_sorted)", "remove = remove_sorted")
        ],
        "top_p_rounds_at_one": [("sampling", "    if p == 1:\n", "    if False:\n")],
        "top_p_not_checked": [("sampling", "    if not 0 < p <= 1:\n", "    if False:\n")],
    },
    "kv_cache": {
        "position_off_by_one": [
            (
                "kv_cache",
                "start, end = self.length, self.length + k.size(2)",
                "start, end = self.length + 1, self.length + k.size(2) + 1",
            )
        ],
        "reset_does_nothing": [
            ("kv_cache", "self.length = 0  # the next update writes at slot 0 again", "pass")
        ],
        "returns_only_new": [
            ("kv_cache", "return self.k[layer, :, :, :end], self.v[layer, :, :, :end]", "return k, v")
        ],
        "returns_whole_buffer": [
            (
                "kv_cache",
                "return self.k[layer, :, :, :end], self.v[layer, :, :, :end]",
                "return self.k[layer], self.v[layer]",
            )
        ],
        "advance_by_one": [("kv_cache", "self.length += t", "self.length += 1")],
        "ignores_dtype": [
            (
                "kv_cache",
                "self.k = torch.zeros(shape, device=device, dtype=dtype)",
                "self.k = torch.zeros(shape, device=device)",
            ),
            (
                "kv_cache",
                "self.v = torch.zeros(shape, device=device, dtype=dtype)",
                "self.v = torch.zeros(shape, device=device)",
            ),
        ],
        "ignores_device": [
            (
                "kv_cache",
                "self.k = torch.zeros(shape, device=device, dtype=dtype)",
                "self.k = torch.zeros(shape, dtype=dtype)",
            ),
            (
                "kv_cache",
                "self.v = torch.zeros(shape, device=device, dtype=dtype)",
                "self.v = torch.zeros(shape, dtype=dtype)",
            ),
        ],
        "no_overflow_check": [("kv_cache", "        if end > self.max_len:\n", "        if False:\n")],
        "keys_and_values_share_storage": [
            ("kv_cache", "self.v = torch.zeros(shape, device=device, dtype=dtype)", "self.v = self.k")
        ],
    },
    "generate": {
        "never_resets": [("generate", "        kv_cache.reset()\n", "")],
        "ignores_given_cache": [("generate", "        if kv_cache is None:\n", "        if True:\n")],
        "prefill_token_by_token": [
            (
                "generate",
                "    out, step = idx, idx  # the prefill feeds the whole prompt\n",
                "    out, step = idx, idx\n"
                "    if use_cache:\n"
                "        for t in range(idx.size(1) - 1):\n"
                "            model(idx[:, t : t + 1], kv_cache=kv_cache)\n"
                "        step = idx[:, -1:]\n",
            )
        ],
        "feeds_whole_sequence": [
            (
                "generate",
                "        step = tok  # (B, 1): only the new token goes through the model next",
                "        step = out",
            )
        ],
        "use_cache_ignored": [
            ("generate", "    if use_cache:\n", "    if True:\n"),
            (
                "generate",
                "model(step, kv_cache=kv_cache) if use_cache else model(out)",
                "model(step, kv_cache=kv_cache)",
            ),
        ],
        "temperature_not_passed": [("generate", "temperature=temperature, top_k=top_k", "top_k=top_k")],
        "top_k_not_passed": [("generate", "top_k=top_k, top_p=top_p", "top_p=top_p")],
        "top_p_not_passed": [("generate", "top_p=top_p, generator=generator", "generator=generator")],
        "default_greedy": [("generate", "    temperature=1.0,\n", "    temperature=0.0,\n")],
        "seed_none_fixed": [
            (
                "generate",
                "generator = None if seed is None else",
                "generator = torch.Generator(device=idx.device) if seed is None else",
            )
        ],
        "stop_token_ignored": [("generate", "        if stop_token is not None:\n", "        if False:\n")],
        "stop_not_padded": [
            (
                "generate",
                "            tok = tok.masked_fill(stopped, stop_token)  # a row that stopped is padded\n",
                "",
            )
        ],
        "stop_no_early_end": [
            (
                "generate",
                "        if stop_token is not None and bool(stopped.all()):\n            break\n",
                "",
            )
        ],
        "zero_tokens_samples_one": [
            ("generate", "    for _ in range(max_new_tokens):", "    for _ in range(max(max_new_tokens, 1)):")
        ],
        "no_context_check": [
            (
                "generate",
                "    if idx.size(1) + max_new_tokens > model.config.block_size:\n",
                "    if False:\n",
            )
        ],
    },
}

ALTERNATIVES = {
    "sampling": {
        "where_gather_float64": """
def apply_temperature(logits, temperature):
    if not temperature > 0:
        raise ValueError("the temperature must be positive")
    return logits * (1.0 / temperature)


def top_k_filter(logits, k):
    if k < 1:
        raise ValueError("k must be at least 1")
    values, _ = logits.sort(dim=-1, descending=True)
    threshold = values[..., min(k, logits.shape[-1]) - 1, None]
    return torch.where(logits >= threshold, logits, torch.full_like(logits, float("-inf")))


def top_p_filter(logits, p):
    if not 0 < p <= 1:
        raise ValueError("p must lie in (0, 1]")
    probs, order = torch.softmax(logits.double(), dim=-1).sort(dim=-1, descending=True)
    before = torch.cat([torch.zeros_like(probs[..., :1]), probs.cumsum(dim=-1)[..., :-1]], dim=-1)
    keep_sorted = (before < p) | (p >= 1)
    keep = keep_sorted.gather(-1, order.argsort(dim=-1))
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))
""",
    },
    "kv_cache": {
        "lists_and_cat": """
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
                if cache.length + k.shape[2] > cache.max_len:
                    raise ValueError("the cache holds max_len positions")
                cache.keys[i] = torch.cat([cache.keys[i][:, :, : cache.length], k], dim=2)
                cache.values[i] = torch.cat([cache.values[i][:, :, : cache.length], v], dim=2)
                return cache.keys[i], cache.values[i]

        return View()

    def advance(self, t):
        self.length = self.length + t

    def reset(self):
        self.length = 0
""",
    },
    "generate": {
        "token_list_while": """
@torch.no_grad()
def generate(model, idx, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, seed=None,
             stop_token=None, use_cache=True, kv_cache=None, sample=sample_next_token):
    T, limit = idx.shape[1], model.config.block_size
    if T + max_new_tokens > limit:
        raise ValueError(f"{T} + {max_new_tokens} tokens do not fit in block_size {limit}")
    g = torch.Generator(device=idx.device).manual_seed(seed) if seed is not None else None
    cache = None
    if use_cache:
        c = model.config
        cache = kv_cache if kv_cache is not None else KVCache(
            c.n_layer, idx.shape[0], c.n_head, c.head_dim, limit, idx.device
        )
        cache.reset()
    tokens, feed, finished = [idx], idx, None
    while len(tokens) - 1 < max_new_tokens:
        logits = model(feed, kv_cache=cache) if use_cache else model(torch.cat(tokens, dim=1))
        nxt = sample(logits[:, -1], temperature=temperature, top_k=top_k, top_p=top_p, generator=g)
        if stop_token is not None:
            if finished is not None:
                nxt = torch.where(finished, torch.full_like(nxt, stop_token), nxt)
            finished = (nxt == stop_token) if finished is None else finished | (nxt == stop_token)
        tokens.append(nxt)
        feed = nxt
        if finished is not None and bool(finished.all()):
            break
    return torch.cat(tokens, dim=1)
""",
    },
}

DELEGATING = {
    "sampling": {
        "imports_top_p": [
            (
                "sampling",
                "    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V) each\n",
                "    from lmcore.sampling import top_p_filter as reference\n\n"
                "    return reference(logits, p)\n",
            )
        ],
    },
    "kv_cache": {
        "subclasses_reference": """
from lmcore.kv_cache import KVCache as _Base


class KVCache(_Base):
    pass
""",
    },
    "generate": {
        "wraps_reference": """
from lmcore.generation import generate as _reference


def generate(model, idx, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, seed=None,
             stop_token=None, use_cache=True, kv_cache=None, sample=sample_next_token):
    return _reference(model, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                      seed=seed, stop_token=stop_token, use_cache=use_cache, kv_cache=kv_cache, sample=sample)
""",
    },
}
