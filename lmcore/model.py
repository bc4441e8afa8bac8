"""The reference GPT: GPT-2's shape, written to be read top to bottom.

Token and learned position embeddings, ``n_layer`` pre-LN blocks (causal
multi-head self-attention, then a GELU MLP, each inside a residual), a final
LayerNorm and an LM head tied to the token embedding. Parameter names follow
GPT-2 so its weights map one to one (see ``lmcore.oracles.gpt2``).

Every component can be replaced: ``GPT(config, attention=f)`` runs ``f`` as
the attention of every layer, ``self_attention_cls`` and ``block_cls`` swap
whole modules. This is how ``lmcore.grading`` runs a student's part inside
the reference model.
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmcore.kv_cache import KVCache, LayerKVCache
from lmcore.validation import check_token_ids, one_of, positive_int, probability

AttentionFn = Callable[..., Tensor]  # (q, k, v, causal=True) -> y, all (B, H, T, head_dim)


@dataclass(frozen=True)
class GPTConfig:
    block_size: int = 1024  # context length: the most positions the model can see
    vocab_size: int = 50257  # GPT-2's byte-level BPE vocabulary
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            positive_int(f"GPTConfig.{name}", getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                "each head gets n_embd // n_head dimensions"
            )
        probability("GPTConfig.dropout", self.dropout, open_high=True)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def gpt2(cls, size: str = "gpt2") -> "GPTConfig":
        """The four published GPT-2 shapes: gpt2 (124M), gpt2-medium, gpt2-large, gpt2-xl."""
        shapes = {
            "gpt2": (12, 12, 768),
            "gpt2-medium": (24, 16, 1024),
            "gpt2-large": (36, 20, 1280),
            "gpt2-xl": (48, 25, 1600),
        }
        n_layer, n_head, n_embd = shapes[one_of("GPT-2 size", size, shapes)]
        return cls(n_layer=n_layer, n_head=n_head, n_embd=n_embd)


def fused_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = True) -> Tensor:
    """PyTorch's fused attention kernel (flash / memory-efficient on CUDA).

    Same contract as ``lmcore.attention.scaled_dot_product_attention``:
    q (B, H, T_q, d), k and v (B, H, T_k, d) -> (B, H, T_q, d); with a KV cache
    T_q < T_k and the queries are the last T_q positions.
    """
    t_q, t_k = q.size(-2), k.size(-2)
    if causal and t_q > t_k:
        raise ValueError(f"causal attention needs t_q <= t_k, got t_q={t_q} and t_k={t_k}")
    if not causal or t_q == 1:
        return F.scaled_dot_product_attention(q, k, v)
    if t_q == t_k:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    mask = torch.ones(t_q, t_k, dtype=torch.bool, device=q.device).tril(diagonal=t_k - t_q)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, attention: AttentionFn = fused_attention):
        super().__init__()
        self.n_head = config.n_head
        self.attention = attention
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # q, k, v for all heads at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, kv_cache: LayerKVCache | None = None) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        # split C into n_head heads of size C // n_head and move heads before time
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, hd)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, hd)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, H, T_past + T, hd)
        y = self.attention(q, k, v, causal=True)  # (B, H, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        # GPT-2 uses the tanh approximation of GELU
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig, self_attention_cls: type = CausalSelfAttention):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.attn = self_attention_cls(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, kv_cache: LayerKVCache | None = None) -> Tensor:
        if kv_cache is None:
            x = x + self.attn(self.ln_1(x))
        else:
            x = x + self.attn(self.ln_1(x), kv_cache=kv_cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(
        self,
        config: GPTConfig,
        *,
        attention: AttentionFn = fused_attention,
        self_attention_cls: type = CausalSelfAttention,
        block_cls: type = Block,
    ):
        super().__init__()
        self.config = config
        attn_cls = functools.partial(self_attention_cls, attention=attention)
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(block_cls(config, attn_cls) for _ in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        self.apply(self._init_weights)
        # GPT-2 scales the residual projections by 1/sqrt(2 * n_layer): each block adds
        # two of them to the residual stream, and their variance would otherwise grow.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: Tensor, kv_cache: KVCache | None = None) -> Tensor:
        """Token ids (B, T) -> next-token logits (B, T, vocab_size).

        With ``kv_cache`` the T tokens continue the sequence already stored in
        the cache: they take positions cache.length .. cache.length + T - 1.
        """
        start = 0 if kv_cache is None else kv_cache.length
        check_token_ids(idx, self.config.vocab_size, self.config.block_size, start=start)
        T = idx.size(1)
        pos = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x) if kv_cache is None else block(x, kv_cache=kv_cache.layer(i))
        if kv_cache is not None:
            kv_cache.advance(T)
        x = self.transformer.ln_f(x)
        return self.lm_head(x)  # (B, T, vocab_size)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Trainable parameters, the tied embedding counted once."""
        n = sum(p.numel() for p in self.parameters())  # parameters() yields a tied tensor once
        if non_embedding:
            n -= self.transformer.wpe.weight.numel() + self.transformer.wte.weight.numel()
        return n


def count_parameters(config: GPTConfig) -> int:
    """Parameters of ``GPT(config)`` from the config alone (tied LM head counted once)."""
    C, L = config.n_embd, config.n_layer
    embeddings = config.vocab_size * C + config.block_size * C
    attention = (C * 3 * C + 3 * C) + (C * C + C)
    mlp = (C * 4 * C + 4 * C) + (4 * C * C + C)
    layer_norms = 2 * (2 * C)
    return embeddings + L * (attention + mlp + layer_norms) + 2 * C
