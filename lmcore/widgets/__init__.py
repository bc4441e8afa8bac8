"""The book's widgets, one module per chapter: ``ngram`` (2), ``bpe`` (3), ``attention`` (7),
``generation`` (9), all built on the controls-render-view plumbing of ``base``."""
