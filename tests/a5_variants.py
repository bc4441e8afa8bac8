"""Submissions of A5 that the grading must tell apart: mutants (one classic bug each) and
an alternative correct solution written differently from the reference.

A mutant is a list of (grade_id, old, new) edits to the solution notebook's cells and the
set of parts it breaks; every other part must keep its full points.
"""

from tests.variants import Submissions, grade_id, namespace  # noqa: F401  (used by the tests)

A5 = Submissions("A5")
SOLUTION = A5.solution_path
PARTS = ("attention", "self_attention", "block", "gpt")

MUTANTS = {
    "no_causal_mask": (
        [("attention", "    if causal:\n", "    if False:\n")],
        {"attention"},
        "no causal mask",
    ),
    "no_sqrt_dk_scaling": (
        [("attention", " / math.sqrt(q.size(-1))", "")],
        {"attention"},
        "1/sqrt(d_k)",
    ),
    "softmax_wrong_axis": (
        [("attention", "torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")],
        {"attention"},
        "wrong axis",
    ),
    "heads_split_wrong": (
        [
            (
                "self_attention",
                "t.view(B, T, self.n_head, head_dim).transpose(1, 2)",
                "t.reshape(B, self.n_head, T, head_dim)",
            )
        ],
        {"self_attention"},
        "split in the wrong order",
    ),
    "heads_merged_wrong": (
        [("self_attention", "y.transpose(1, 2).contiguous().view(B, T, C)", "y.reshape(B, T, C)")],
        {"self_attention"},
        "merged in the wrong order",
    ),
    "missing_residual": (
        [("block", "x = x + self.attn(self.ln_1(x))", "x = self.attn(self.ln_1(x))")],
        {"block"},
        "residual connection around attention is missing",
    ),
    "post_layernorm": (
        [
            (
                "block",
                "x = x + self.attn(self.ln_1(x))\n        x = x + self.mlp(self.ln_2(x))",
                "x = self.ln_1(x + self.attn(x))\n        x = self.ln_2(x + self.mlp(x))",
            )
        ],
        {"block"},
        "post-LN",
    ),
    "no_position_embedding": (
        [("gpt", " + self.transformer.wpe(positions)", "")],
        {"gpt"},
        "position embeddings are missing",
    ),
    "untied_head": (
        [("gpt", "self.lm_head.weight = self.transformer.wte.weight", "pass")],
        {"gpt"},
        "weight tying",
    ),
}

# Delegation passes every visible check and loses only the hidden points of its part.
DELEGATING = [
    (
        "attention",
        "    t_q, t_k = q.size(-2), k.size(-2)\n",
        "    return F.scaled_dot_product_attention(q, k, v, is_causal=causal and q.size(-2) > 1)\n",
    )
]

ALTERNATIVE = {
    "attention": """
def scaled_dot_product_attention(q, k, v, causal=True):
    d = q.shape[-1]
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) * d**-0.5
    if causal:
        t_q, t_k = scores.shape[-2:]
        query_pos = torch.arange(t_k - t_q, t_k, device=q.device)[:, None]
        key_pos = torch.arange(t_k, device=q.device)[None, :]
        scores = torch.where(key_pos <= query_pos, scores, torch.finfo(scores.dtype).min)
    scores = scores - scores.amax(dim=-1, keepdim=True)
    weights = scores.exp()
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return torch.einsum("bhqk,bhkd->bhqd", weights, v)
""",
    "self_attention": """
class CausalSelfAttention(nn.Module):
    def __init__(self, config, attention=scaled_dot_product_attention):
        super().__init__()
        self.heads = config.n_head
        self.attention = attention
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.c_attn(x).reshape(B, T, 3, self.heads, C // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        y = self.attention(q, k, v, causal=True)
        return self.c_proj(y.permute(0, 2, 1, 3).reshape(B, T, C))
""",
    "block": """
class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        h = self.c_fc(x)
        h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
        return self.c_proj(h)


class Block(nn.Module):
    def __init__(self, config, self_attention_cls=CausalSelfAttention):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.attn = self_attention_cls(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x):
        h = x + self.attn(self.ln_1(x))
        return h + self.mlp(self.ln_2(h))
""",
    "gpt": """
class GPT(nn.Module):
    def __init__(self, config, block_cls=Block):
        super().__init__()
        self.config = config
        wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.transformer = nn.ModuleDict(
            {
                "wte": wte,
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "h": nn.ModuleList([block_cls(config) for _ in range(config.n_layer)]),
                "ln_f": nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = wte.weight

    def forward(self, idx):
        B, T = idx.shape
        pos = self.transformer.wpe.weight[:T].unsqueeze(0).expand(B, T, -1)
        x = self.transformer.wte(idx) + pos
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        return x @ self.transformer.wte.weight.T
""",
}

# Rewrites every later cell that calls a check into `pass` before IPython runs it: the test
# cells then show no error, so nbgrader alone would give full marks.
FORGING_CELL = """
def _skip_checks(lines):
    return ["pass\\n"] if any("check_" in line for line in lines) else lines

get_ipython().input_transformers_cleanup.append(_skip_checks)
"""


solution_notebook, edited, replaced = A5.solution, A5.edited, A5.replaced
