"""Training and decoding wiring, beam search, per-image errors, the CLI and the feature cache."""
import json
import subprocess
import sys

import numpy as np
import pytest

from captioner import checkpoint
from captioner.data import Vocabulary, clean_caption, load_flickr8k
from captioner.inference import CaptionError, CaptionResult, Captioner
from captioner.testing import tiny_checkpoint
from tests.images import FLICKR8K, encode, gradient_image, photo_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder():
    from captioner.encoder import load_encoder

    return load_encoder("block5_pool")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny(tiny_dir, encoder):
    return Captioner.load(tiny_dir, encoder=encoder)


@pytest.fixture(scope="module")
def five_photos():
    if not (FLICKR8K / "Flickr8k.token.txt").exists():
        pytest.fail(f"Flickr8k is expected at {FLICKR8K} (../shared/flickr8k beside the repo)")
    data = load_flickr8k(FLICKR8K)
    names = data.split("train")[:5]
    return data, names


def test_tiny_model_overfits_five_images_and_reproduces_their_captions(five_photos, encoder, tmp_path):
    from captioner.preprocess import encoder_input
    from captioner.train import TrainConfig, TrainingData, caption_matrix, fit

    data, names = five_photos
    captions = [clean_caption(data.captions[n][0])[:12] for n in names]
    vocab = Vocabulary.build(captions, min_count=1)
    features = np.asarray(encoder(np.stack([encoder_input(data.image_path(n)) for n in names])), dtype=np.float16)
    config = TrainConfig(embed_dim=64, hidden_dim=128, attention_dim=64, dropout=0.0, max_len=12, lr=3e-3, ema_decay=0.9,
                         batch_size=5, steps_per_epoch=60, epochs=8, patience=8, dev_images=5, seed=3)
    training = TrainingData(features=features, image_of_row=np.arange(5), tokens=caption_matrix(vocab, captions, 12),
                            dev_features=features, dev_references=[[c] for c in captions])
    history = fit(config, vocab, training, tmp_path, log=lambda *_: None)
    assert history["train_loss"][-1] < history["train_loss"][0] / 5
    assert (tmp_path / "training_curve.png").stat().st_size > 1000

    reloaded = Captioner.load(tmp_path, eager=False)
    hypotheses = reloaded.caption_features(features.astype(np.float32))
    assert [h[0].words for h in hypotheses] == captions


def test_checkpoint_carries_vocabulary_and_hyper_parameters(tiny_dir):
    model, vocab, meta = checkpoint.load(tiny_dir)
    assert meta["model"]["hidden_dim"] == 32 and meta["model"]["vocab_size"] == len(vocab)
    assert model.config.kind == "attention"


def test_broken_checkpoints_are_refused_clearly(tiny_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        checkpoint.load(tmp_path)
    for name in ("config.json", "decoder.npz"):
        (tmp_path / name).write_bytes((tiny_dir / name).read_bytes())
    (tmp_path / "vocab.json").write_text(Vocabulary(["x"]).to_json())
    with pytest.raises(ValueError, match="vocab"):
        checkpoint.load(tmp_path)


@pytest.mark.parametrize("width", [1, 3, 5])
def test_beam_search_returns_k_sorted_alternatives(tiny, width):
    [result] = tiny.caption([photo_bytes()], beam_width=width)
    assert isinstance(result, CaptionResult)
    scores = [a["score"] for a in result.alternatives]
    assert len(result.alternatives) == width
    assert scores == sorted(scores, reverse=True)
    assert result.caption == result.alternatives[0]["caption"]
    assert len({a["caption"] for a in result.alternatives}) == width  # distinct beams
    assert all(a["caption"] and "<unk>" not in a["caption"] for a in result.alternatives)


def test_attention_maps_cover_each_word(tiny):
    [result] = tiny.caption([photo_bytes()])
    words = result.caption.split()
    assert [a["word"] for a in result.attention] == words
    for entry in result.attention:
        weights = np.asarray(entry["weights"])
        assert weights.shape == (7, 7)
        assert abs(weights.sum() - 1) < 0.01
    assert result.model_version.startswith("tiny-attention@")
    assert json.loads(json.dumps(result.to_dict()))["caption"] == result.caption


def test_one_corrupt_image_does_not_fail_the_batch(tiny):
    good = photo_bytes()
    batch = [good, b"\xff\xd8\xff\xe0 truncated jpeg", gradient_image(300, 200), b"", encode(gradient_image(), "PNG")]
    results = tiny.caption(batch)
    assert [type(r) for r in results] == [CaptionResult, CaptionError, CaptionResult, CaptionError, CaptionResult]
    assert "decode" in results[1].reason and results[1].index == 1
    # The bad images changed nothing for the good ones.
    assert results[0].caption == tiny.caption([good])[0].caption


def test_merge_decoder_decodes_too(tmp_path, encoder):
    merge = Captioner.load(tiny_checkpoint(tmp_path, kind="merge"), encoder=encoder)
    [result] = merge.caption([photo_bytes()])
    assert result.caption and result.attention == []


def test_cli_prints_one_json_object_per_image(tiny_dir, tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(photo_bytes())
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    missing = tmp_path / "missing.jpg"
    proc = subprocess.run([sys.executable, "-m", "captioner", "caption", str(good), str(bad), str(missing),
                           "--model", str(tiny_dir)], capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["image"] for line in lines] == [str(good), str(bad), str(missing)]
    assert set(lines[0]) >= {"image", "caption", "alternatives"}
    assert len(lines[0]["alternatives"]) == 3 and lines[0]["alternatives"][0]["caption"] == lines[0]["caption"]
    assert "error" in lines[1] and "error" in lines[2]
    assert proc.returncode == 1  # some images failed


def test_feature_extraction_resumes_after_interruption(tmp_path, encoder):
    from captioner import features

    images = tmp_path / "data" / "Images"
    images.mkdir(parents=True)
    names = [f"{i}_x.jpg" for i in range(5)]
    for i, name in enumerate(names):
        (images / name).write_bytes(encode(gradient_image(80 + 10 * i, 60)))
    (tmp_path / "data" / "captions.txt").write_text("image,caption\n" + "".join(f"{n},a picture\n" for n in names))
    data = load_flickr8k(tmp_path / "data")
    data.splits = {"train": names}

    class Interrupted(Exception):
        pass

    class FlakyEncoder:
        def __init__(self, fail_after):
            self.calls, self.fail_after = 0, fail_after

        def predict_on_batch(self, batch):
            if self.calls == self.fail_after:
                raise Interrupted()
            self.calls += 1
            return encoder(batch)

    cache = tmp_path / "cache"
    first = FlakyEncoder(fail_after=2)
    with pytest.raises(Interrupted):
        features.extract(data, splits=["train"], layers=["block5_pool"], batch_size=2, root=cache, encoder=first)
    with pytest.raises(RuntimeError, match="incomplete"):
        features.load("block5_pool", "train", root=cache)
    second = FlakyEncoder(fail_after=-1)
    features.extract(data, splits=["train"], layers=["block5_pool"], batch_size=2, root=cache, encoder=second)
    assert second.calls == 1  # only the last batch (rows 4..5) was left
    cached_names, cached = features.load("block5_pool", "train", root=cache)
    assert cached_names == names and cached.shape == (5, 7, 7, 512) and cached.dtype == np.float16

    fresh = tmp_path / "fresh"
    features.extract(data, splits=["train"], layers=["block5_pool"], batch_size=5, root=fresh, encoder=encoder_wrapper(encoder))
    np.testing.assert_allclose(np.asarray(features.load("block5_pool", "train", root=fresh)[1], np.float32),
                               np.asarray(cached, np.float32), rtol=1e-2, atol=1e-2)


def encoder_wrapper(model):
    class Wrapped:
        def predict_on_batch(self, batch):
            return model(batch)

    return Wrapped()
