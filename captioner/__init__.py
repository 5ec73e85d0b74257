"""The product's captioning model: VGG16 conv features + soft-attention LSTM, trained on Flickr8k.

Importing this package is cheap; TensorFlow is loaded only when a model is built or loaded.
"""
from captioner.paths import DEFAULT_MODEL_DIR

__all__ = ["Captioner", "CaptionError", "CaptionResult", "DEFAULT_MODEL_DIR"]


def __getattr__(name):
    if name in ("Captioner", "CaptionError", "CaptionResult"):
        from captioner import inference

        return getattr(inference, name)
    raise AttributeError(name)
