"""Encoder runtimes: the VGG16 conv base in three precisions behind one call.

    encoder = load_runtime("int8")               # or "fp32", "bf16"
    features = encoder(batch)                    # (N, 224, 224, 3) from encoder_input -> (N, 7, 7, 512)

| name | what runs |
|------|-----------|
| fp32 | Keras/TensorFlow, float32 (the reference the decoder was trained on) |
| bf16 | Keras mixed precision `mixed_bfloat16`: bfloat16 compute, float32 weights, oneDNN kernels |
| int8 | onnxruntime, statically quantized QDQ graph (`captioner.encoder_int8`), built at set-up |

Every runtime returns float32 NHWC features, whatever it computes in.
"""
from __future__ import annotations

import os

import numpy as np

RUNTIMES = ("fp32", "bf16", "int8")
# The fastest runtime whose Flickr8k test BLEU-4 is within 0.005 of fp32 (bench/results/encoder.md).
DEFAULT_RUNTIME = "int8"


class UnknownEncoderRuntime(ValueError):
    pass


def check_runtime_name(name: str | None) -> str:
    """The runtime name, `DEFAULT_RUNTIME` for None/empty; a clear error for anything else."""
    if name is None or not str(name).strip():
        return DEFAULT_RUNTIME
    cleaned = str(name).strip().lower()
    if cleaned not in RUNTIMES:
        raise UnknownEncoderRuntime(f"unknown encoder runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    return cleaned


class KerasEncoder:
    """A Keras conv base run through one traced tf.function (no per-call Python layer dispatch)."""

    def __init__(self, model, name: str = "fp32"):
        import tensorflow as tf

        self.model = model
        self.name = name
        self._call = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), reduce_retracing=True)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._call(tf.constant(batch, dtype=tf.float32)).numpy()


def _bf16_copy(model):
    """The same network with the `mixed_bfloat16` policy on every layer (a layer-level policy,
    so the decoder in the same process keeps computing in float32), sharing the fp32 weights."""
    import keras

    def with_bf16(layer):
        config = layer.get_config()
        config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=with_bf16)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


class OnnxEncoder:
    """An onnxruntime session over a conv base whose input is NHWC and output NCHW."""

    def __init__(self, path, name: str = "int8", threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        # No busy-waiting between calls: the beam search (TensorFlow) runs on the same cores
        # right after the encoder, and spinning threads would take them from it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.name = name
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        nchw = self.session.run([self._output], {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))


def load_runtime(name: str | None = None, layer: str = "block5_pool"):
    """The encoder runtime `name` cut at `layer` (default: `DEFAULT_RUNTIME`).

    A missing int8 model is an error that says how to build it, not a silent fall-back to fp32:
    a worker configured for int8 that quietly ran 2-3x slower would only show up as a backlog."""
    from captioner.encoder import load_encoder

    name = check_runtime_name(name)
    if name == "int8":
        from captioner import encoder_int8

        if layer != "block5_pool":
            raise UnknownEncoderRuntime(f"the int8 encoder exists for block5_pool only, not {layer!r}: use fp32 or bf16")
        path = encoder_int8.int8_model_path()
        if not path.exists():
            raise FileNotFoundError(f"int8 encoder missing at {path}: {encoder_int8.BUILD_HELP}")
        return OnnxEncoder(path, name="int8")
    model = load_encoder(layer)
    return KerasEncoder(_bf16_copy(model) if name == "bf16" else model, name=name)


def as_runtime(encoder):
    """Accept a ready runtime, or a bare Keras model (as tests and older callers pass)."""
    if isinstance(encoder, (KerasEncoder, OnnxEncoder)):
        return encoder
    return KerasEncoder(encoder, name=getattr(encoder, "name", "custom"))
