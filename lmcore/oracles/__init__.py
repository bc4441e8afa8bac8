"""Independent implementations the course did not write, used as oracles in tests and benchmarks:
Hugging Face ``tokenizers`` for BPE and the GPT-2 weight format of ``transformers``."""
