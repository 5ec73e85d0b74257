"""Small checkpoints for tests of the captioner's users (the worker, the web platform).

The decoder is tiny and untrained (seeded, so its captions are deterministic); it still runs
behind the real VGG16 encoder prepared by `make setup`, so the whole serving path is exercised.
"""
from __future__ import annotations

from pathlib import Path

TINY_WORDS = ["a", "dog", "cat", "runs", "sits", "on", "the", "grass", "beach", "man", "red", "ball"]


def tiny_checkpoint(directory: str | Path, kind: str = "attention", seed: int = 7) -> Path:
    import keras

    from captioner import checkpoint
    from captioner.data import Vocabulary
    from captioner.model import ModelConfig, build_decoder

    directory = Path(directory)
    if (directory / checkpoint.WEIGHTS_FILE).exists():
        return directory
    keras.utils.set_random_seed(seed)
    vocab = Vocabulary(TINY_WORDS)
    config = ModelConfig(kind=kind, vocab_size=len(vocab), embed_dim=16, hidden_dim=32, attention_dim=16,
                         dropout=0.0, max_len=8)
    checkpoint.save(directory, build_decoder(config), vocab, {"name": f"tiny-{kind}"})
    return directory
