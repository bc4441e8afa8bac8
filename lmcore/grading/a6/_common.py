"""What A6's parts share: the GPT they run in, with logits peaked enough that every
sampling setting changes which tokens are drawn."""

import torch

from lmcore.model import GPT, GPTConfig

GEN = GPTConfig(block_size=32, vocab_size=37, n_layer=2, n_head=4, n_embd=32)
# An untrained GPT's logits have a standard deviation near 0.1: almost uniform, so a
# temperature or top-p bug changes few draws. A final LayerNorm weight of random sign and
# size LOGIT_SCALE spreads the logits over a few units, like a trained model's (lm_head has
# no bias); a weight of one sign would favour repeating the input token (the head is tied to
# the embedding), and each sequence would soon repeat one token whatever the settings.
LOGIT_SCALE = 15.0


def peaked_state(config: GPTConfig, seed: int) -> dict:
    """The state dict of a seeded GPT whose next-token distributions are peaked but differ
    from position to position (see LOGIT_SCALE)."""
    torch.manual_seed(seed)
    state = GPT(config).state_dict()
    state["transformer.ln_f.weight"] = torch.randn(config.n_embd, generator=generator(seed)) * LOGIT_SCALE
    return state


def reference_model(config: GPTConfig, state: dict, cls: type = GPT) -> GPT:
    model = cls(config)
    model.load_state_dict(state)
    return model.eval()


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
