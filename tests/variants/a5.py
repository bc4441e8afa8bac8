"""A5's variants (see tests/variants/__init__.py for the format)."""

MUTANTS = {
    "attention": {
        "no_causal_mask": [("attention", "    if causal:\n", "    if False:\n")],
        "no_scaling": [("attention", " / math.sqrt(q.size(-1))", "")],
        "softmax_wrong_axis": [
            ("attention", "torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")
        ],
        "mask_top_left": [("attention", "diagonal=t_k - t_q", "diagonal=0")],
        "scaled_by_d": [("attention", " / math.sqrt(q.size(-1))", " / q.size(-1)")],
        "mask_fill_zero": [("attention", 'float("-inf")', "0.0")],
        "mask_sees_next": [("attention", "diagonal=t_k - t_q", "diagonal=t_k - t_q + 1")],
        "mask_upper_triangle": [("attention", ".tril(diagonal=t_k - t_q)", ".triu(diagonal=t_k - t_q)")],
        "mask_after_softmax": [
            ("attention", '        scores = scores.masked_fill(~may_see, float("-inf"))\n', ""),
            (
                "attention",
                "    weights = torch.softmax(scores, dim=-1)  # each row sums to 1 over the keys\n",
                "    weights = torch.softmax(scores, dim=-1)\n"
                "    if causal:\n        weights = weights * may_see\n",
            ),
        ],
    },
    "self_attention": {
        "heads_split_wrong": [
            (
                "self_attention",
                "t.view(B, T, self.n_head, head_dim).transpose(1, 2)",
                "t.reshape(B, self.n_head, T, head_dim)",
            )
        ],
        "heads_merged_wrong": [
            ("self_attention", "y.transpose(1, 2).contiguous().view(B, T, C)", "y.reshape(B, T, C)")
        ],
        "no_output_projection": [("self_attention", "return self.c_proj(y)", "return y")],
    },
    "block": {
        "no_attention_residual": [
            ("block", "x = x + self.attn(self.ln_1(x))", "x = self.attn(self.ln_1(x))")
        ],
        "post_ln": [
            (
                "block",
                "x = x + self.attn(self.ln_1(x))\n        x = x + self.mlp(self.ln_2(x))",
                "x = self.ln_1(x + self.attn(x))\n        x = self.ln_2(x + self.mlp(x))",
            )
        ],
        "layernorm_no_eps": [
            (
                "block",
                "self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)",
                "self.ln_1 = nn.LayerNorm(config.n_embd, eps=0.0)",
            ),
            (
                "block",
                "self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)",
                "self.ln_2 = nn.LayerNorm(config.n_embd, eps=0.0)",
            ),
        ],
        "gelu_exact": [("block", 'F.gelu(self.c_fc(x), approximate="tanh")', "F.gelu(self.c_fc(x))")],
        "relu": [("block", 'F.gelu(self.c_fc(x), approximate="tanh")', "F.relu(self.c_fc(x))")],
        "no_mlp_residual": [("block", "x = x + self.mlp(self.ln_2(x))", "x = self.mlp(self.ln_2(x))")],
        "ln_1_reused": [("block", "x = x + self.mlp(self.ln_2(x))", "x = x + self.mlp(self.ln_1(x))")],
    },
    "gpt": {
        "no_position_embeddings": [("gpt", " + self.transformer.wpe(positions)", "")],
        "untied": [("gpt", "self.lm_head.weight = self.transformer.wte.weight", "pass")],
        "positions_from_1": [
            (
                "gpt",
                "positions = torch.arange(T, device=idx.device)",
                "positions = torch.arange(1, T + 1, device=idx.device)",
            )
        ],
        "no_final_layernorm": [
            ("gpt", "return self.lm_head(self.transformer.ln_f(x))", "return self.lm_head(x)")
        ],
    },
}

ALTERNATIVES = {
    "attention": {
        "einsum_where": """
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
    },
    "self_attention": {
        "permute_unbind": """
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
        "one_call_per_head": """
class CausalSelfAttention(nn.Module):
    def __init__(self, config, attention=scaled_dot_product_attention):
        super().__init__()
        self.n_head = config.n_head
        self.attention = attention
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        outs = []
        for h in range(self.n_head):
            piece = slice(h * hd, (h + 1) * hd)
            qh, kh, vh = (t[:, :, piece].unsqueeze(1) for t in (q, k, v))  # (B, 1, T, hd)
            outs.append(self.attention(qh, kh, vh, causal=True).squeeze(1))
        return self.c_proj(torch.cat(outs, dim=-1))
""",
    },
    "block": {
        "tanh_gelu_by_hand": """
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
    },
    "gpt": {
        "matmul_head": """
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
        "lm_head_first": """
class GPT(nn.Module):
    def __init__(self, config, block_cls=Block):
        super().__init__()
        self.config = config
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                h=nn.ModuleList(block_cls(config) for _ in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps),
            )
        )
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx):
        positions = torch.arange(idx.size(1), device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(positions)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))
""",
    },
}

DELEGATING = {
    "attention": {
        "torch_sdpa": [
            (
                "attention",
                "    t_q, t_k = q.size(-2), k.size(-2)\n",
                "    return F.scaled_dot_product_attention(q, k, v, is_causal=causal and q.size(-2) > 1)\n",
            )
        ],
    },
    "self_attention": {
        "torch_multihead": """
class CausalSelfAttention(nn.Module):
    def __init__(self, config, attention=scaled_dot_product_attention):
        super().__init__()
        self.n_head = config.n_head
        self.attention = attention
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x):
        B, T, C = x.shape
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        y, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), C, self.n_head,
            self.c_attn.weight, self.c_attn.bias, None, None, False, 0.0,
            self.c_proj.weight, self.c_proj.bias, attn_mask=mask, need_weights=False,
        )
        self.attention(x[:, None, :1], x[:, None, :1], x[:, None, :1])
        return y.transpose(0, 1)
""",
    },
    "block": {
        "lmcore_block": """
from lmcore.model import Block as _Reference


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)


Block = _Reference
""",
    },
    "gpt": {
        "lmcore_forward": """
from lmcore import model as _lm


class GPT(_lm.GPT):
    def __init__(self, config, block_cls=Block):
        super().__init__(config, block_cls=block_cls)
""",
    },
}
