"""The int8 VGG16 conv base: onnxruntime static quantization (QDQ, per-channel int8 weights,
uint8 activations) of the block5_pool cut of the pinned ONNX file.

Calibration (the per-tensor activation ranges) needs Flickr8k train images, which a fresh machine
may not have, so its result is committed (`RANGES_PATH`, a small JSON in onnxruntime's calibration
cache format) and set-up builds the quantized model from it without any image:

    python -m captioner prepare-encoder                           # builds it (idempotent)
    python -m captioner calibrate-encoder --data ../shared/flickr8k   # recomputes the ranges

Only `block5_pool` (the shipped decoder's input) is provided in int8.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from captioner.paths import PACKAGE_DIR, cache_dir

INPUT_NAME = "input"                                   # NHWC, preprocessed like encoder_input()
POOL_OUTPUT = "functional_1/block5_pool_1/MaxPool2d:0"  # NCHW (tf2onnx moved the transposes out)
RANGES_PATH = PACKAGE_DIR / "models" / "vgg16-int8" / "calibration_ranges.json"
# Chosen on feature error against fp32 on dev photos (see the model card's encoder section).
# reduce_range keeps weights in 7 bits: CPUs without VNNI multiply u8 x s8 pairs into int16 with
# saturation (vpmaddubsw); 7-bit weights cannot overflow it, and VNNI machines lose almost nothing.
QUANT_OPTIONS = {"per_channel": True, "reduce_range": True, "activation_type": "QUInt8", "weight_type": "QInt8"}
CALIBRATION_DEFAULTS = {"images": 64, "method": "MinMax"}
BUILD_HELP = "run `make setup` (python -m captioner prepare-encoder) to build it"


def fp32_conv_base_path() -> Path:
    return cache_dir() / "vgg16_block5_pool_fp32.onnx"


def int8_model_path() -> Path:
    return cache_dir() / "vgg16_block5_pool_int8.onnx"


def _stamp_path() -> Path:
    return int8_model_path().with_suffix(".build.json")


def _atomic_target(target: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=target.stem + ".", suffix=".part.onnx")
    os.close(handle)
    os.chmod(name, 0o644)  # like the other cache files, not mkstemp's 0600
    return Path(name)


def build_fp32_conv_base(force: bool = False) -> Path:
    """The pinned classifier cut at block5_pool, input fixed to (batch, 224, 224, 3), pre-processed
    for quantization (shape inference, constant folding) as onnxruntime recommends."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from captioner.encoder import fetch_onnx

    target = fp32_conv_base_path()
    if target.exists() and not force:
        return target
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cut = Path(tmp) / "cut.onnx"
        onnx.utils.extract_model(str(fetch_onnx()), str(cut), [INPUT_NAME], [POOL_OUTPUT])
        model = onnx.load(str(cut))
        # The classifier was exported at 240x240; the conv part is size-agnostic, the product feeds 224.
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        for dim, value in zip(dims[1:], (224, 224, 3)):
            dim.dim_value = value
        del model.graph.value_info[:]  # shapes inferred at 240 px would be stale
        onnx.save(model, str(cut))
        partial = _atomic_target(target)
        quant_pre_process(str(cut), str(partial), skip_symbolic_shape=True)
        partial.replace(target)
    return target


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_stamp(ranges: Path) -> dict:
    import onnxruntime

    return {"ranges_sha256": _digest(ranges), "onnxruntime": onnxruntime.__version__, **QUANT_OPTIONS}


def ranges_method(ranges: Path):
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import load_tensors_data

    method = load_tensors_data(ranges).calibration_method
    return method if isinstance(method, CalibrationMethod) else CalibrationMethod[str(method).split(".")[-1]]


def quantize(fp32_model: Path, ranges: Path, target: Path, data_reader=None, method=None) -> Path:
    """Static QDQ quantization. With `data_reader=None` the ranges come from the file `ranges`
    (onnxruntime's calibration cache); otherwise calibration runs and writes them there."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if data_reader is None and not ranges.is_file():
        raise FileNotFoundError(f"calibration ranges missing at {ranges}")
    quantize_static(
        str(fp32_model), str(target), calibration_data_reader=data_reader, quant_format=QuantFormat.QDQ,
        per_channel=QUANT_OPTIONS["per_channel"], reduce_range=QUANT_OPTIONS["reduce_range"],
        activation_type=QuantType[QUANT_OPTIONS["activation_type"]],
        weight_type=QuantType[QUANT_OPTIONS["weight_type"]],
        calibrate_method=method if method is not None else ranges_method(ranges),
        calibration_cache_path=str(ranges),
    )
    return target


def build_int8(force: bool = False, ranges: Path = RANGES_PATH) -> Path:
    """Set-up step (idempotent): the int8 model from the committed ranges; rebuilt when the
    ranges, onnxruntime or the options change, otherwise a few file reads."""
    target = int8_model_path()
    stamp = _build_stamp(ranges)
    if target.exists() and not force and _stamp_path().exists():
        if json.loads(_stamp_path().read_text()) == stamp:
            return target
    partial = _atomic_target(target)
    try:
        quantize(build_fp32_conv_base(), ranges, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    _stamp_path().write_text(json.dumps(stamp, indent=1))
    return target


class ImageReader:
    """onnxruntime CalibrationDataReader over image files, one batch of `batch_size` at a time."""

    def __init__(self, paths: list[Path], batch_size: int = 8):
        self.paths, self.batch_size, self.position = list(paths), batch_size, 0

    def get_next(self):
        from captioner.preprocess import encoder_input

        if self.position >= len(self.paths):
            return None
        chunk = self.paths[self.position: self.position + self.batch_size]
        self.position += len(chunk)
        return {INPUT_NAME: np.stack([encoder_input(p) for p in chunk]).astype(np.float32)}

    def rewind(self):
        self.position = 0


def calibration_images(data: str | Path, count: int) -> list[Path]:
    """`count` Flickr8k train photos spread evenly over the split (never dev or test)."""
    from captioner.data import load_flickr8k

    dataset = load_flickr8k(data)
    names = dataset.split("train")
    if not 0 < count <= len(names):
        raise ValueError(f"calibration images must be between 1 and {len(names)}, got {count}")
    step = len(names) / count
    return [dataset.image_path(names[int(i * step)]) for i in range(count)]


def calibrate(data: str | Path, images: int = CALIBRATION_DEFAULTS["images"],
              method: str = CALIBRATION_DEFAULTS["method"], out: Path = RANGES_PATH) -> Path:
    """Recompute the activation ranges on Flickr8k train photos and write them to `out`
    (then rebuild the int8 model from them)."""
    from onnxruntime.quantization import CalibrationMethod

    if method not in ("MinMax", "Percentile", "Entropy"):
        raise ValueError(f"unknown calibration method {method!r}; choose MinMax, Percentile or Entropy")
    reader = ImageReader(calibration_images(data, images))
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        fresh = Path(tmp) / "ranges.json"
        quantize(build_fp32_conv_base(), fresh, Path(tmp) / "int8.onnx", data_reader=reader,
                 method=CalibrationMethod[method])
        payload = json.loads(fresh.read_text())
    # Histogram methods also store their histograms; the quantizer only reads the ranges.
    for tensor in payload.get("data", {}).values():
        for key in ("hist", "hist_edges", "bins"):
            tensor.pop(key, None)
    payload["calibration"] = {"split": "train", "images": images, "method": method}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    return out


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m captioner.encoder_int8", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build the int8 model from the committed ranges (what set-up does)")
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("calibrate", help="recompute the ranges on Flickr8k train photos, then rebuild")
    p.add_argument("--data", required=True, help="Flickr8k folder, e.g. ../shared/flickr8k")
    p.add_argument("--images", type=int, default=CALIBRATION_DEFAULTS["images"])
    p.add_argument("--method", default=CALIBRATION_DEFAULTS["method"], choices=["MinMax", "Percentile", "Entropy"])
    p.add_argument("--out", type=Path, default=RANGES_PATH)
    args = parser.parse_args(argv)
    try:
        if args.command == "calibrate":
            print(f"ranges: {calibrate(args.data, images=args.images, method=args.method, out=args.out)}")
            if args.out != RANGES_PATH:
                return 0
        print(f"int8 encoder: {build_int8(force=args.command == 'calibrate' or args.force)}")
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
