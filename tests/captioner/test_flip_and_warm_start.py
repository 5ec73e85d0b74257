"""Flip augmentation (mirrored images, left/right swapped) and the teacher-forced stage's warm
start and resume."""
import numpy as np
import pytest

from captioner.data import Flickr8k, Vocabulary, clean_caption, flip_caption, load_flickr8k
from captioner.testing import TINY_WORDS
from captioner.train import TrainConfig, TrainingData, caption_matrix, fit, prepare_data
from tests.images import FLICKR8K


def test_mirrored_captions_swap_left_and_right_only():
    words = clean_caption("A dog jumps to the left while a man on the right writes, right-handed.")
    assert flip_caption(words) == clean_caption("A dog jumps to the right while a man on the left writes, left-handed.")
    assert flip_caption(["a", "dog"]) == ["a", "dog"]


def test_flipped_rows_double_the_data_and_point_at_the_mirrored_images(tmp_path):
    dataset = Flickr8k(root=tmp_path, image_dir=tmp_path, captions={
        "x.jpg": ["A dog on the left", "A dog runs"], "y.jpg": ["A man turns right"]})
    vocab = Vocabulary.build([clean_caption(c) for caps in dataset.captions.values() for c in caps], min_count=1)
    features = np.zeros((2, 7, 7, 512), np.float16)
    flipped = np.ones((2, 7, 7, 512), np.float16)
    data = prepare_data(dataset, vocab, TrainConfig(max_len=8), features, features, ["x.jpg", "y.jpg"], ["y.jpg"],
                        flipped_features=flipped)
    assert data.image_of_row.tolist() == [0, 0, 1, 2, 2, 3]
    assert data.features.shape[0] == 4 and data.features[2:].min() == 1  # rows 2, 3: the mirrored images
    assert vocab.decode(data.tokens[3]) == ["a", "dog", "on", "the", "right"]
    assert vocab.decode(data.tokens[5]) == ["a", "man", "turns", "left"]
    with pytest.raises(ValueError, match="flipped feature rows"):
        prepare_data(dataset, vocab, TrainConfig(), features, features, ["x.jpg", "y.jpg"], ["y.jpg"],
                     flipped_features=flipped[:1])


def test_mirrored_encoder_input_is_the_mirror_of_the_photo():
    from captioner.features import mirrored_input
    from captioner.preprocess import encoder_input

    if not (FLICKR8K / "Flickr8k.token.txt").exists():
        pytest.fail(f"Flickr8k is expected at {FLICKR8K}")
    path = load_flickr8k(FLICKR8K).image_path(load_flickr8k(FLICKR8K).split("train")[0])
    plain, mirrored = encoder_input(path), mirrored_input(path)
    np.testing.assert_allclose(mirrored, plain[:, ::-1, :], atol=1e-4)   # the stored photos are 224x224
    assert not np.allclose(mirrored, plain)


@pytest.fixture()
def tiny_training():
    rng = np.random.default_rng(2)
    captions = [["a", "dog", "runs"], ["a", "cat", "sits"], ["a", "man", "on", "the", "beach"]]
    vocab = Vocabulary(TINY_WORDS)
    features = rng.normal(size=(3, 7, 7, 512)).astype(np.float16)
    data = TrainingData(features=features, image_of_row=np.arange(3), tokens=caption_matrix(vocab, captions, 8),
                        dev_features=features, dev_references=[[c] for c in captions])
    config = dict(embed_dim=16, hidden_dim=32, attention_dim=16, dropout=0.0, max_len=8, batch_size=3,
                  steps_per_epoch=3, dev_images=3, select_beam=1, patience=5, seed=4)
    return vocab, data, config


def test_teacher_forced_stage_resumes_after_its_last_finished_epoch(tmp_path, tiny_training):
    vocab, data, settings = tiny_training
    logs = []
    first = fit(TrainConfig(epochs=1, **settings), vocab, data, tmp_path, log=logs.append)
    assert first["epoch"] == [1] and (tmp_path / "state" / "xe_state.npz").exists()
    resumed = fit(TrainConfig(epochs=2, resume=1, **settings), vocab, data, tmp_path, log=logs.append)
    assert any("resumed" in line and "after epoch 1" in line for line in logs)
    assert resumed["epoch"] == [1, 2] and resumed["train_loss"][0] == first["train_loss"][0]


def test_warm_start_begins_from_the_given_weights(tmp_path, tiny_training):
    from captioner import checkpoint
    from captioner.model import ModelConfig, build_decoder

    vocab, data, settings = tiny_training
    start = build_decoder(ModelConfig(vocab_size=len(vocab), embed_dim=16, hidden_dim=32, attention_dim=16,
                                      dropout=0.0, max_len=8))
    before = [w.numpy().copy() for w in start.weights]
    fit(TrainConfig(epochs=1, lr=1e-9, **settings), vocab, data, tmp_path, log=lambda *_: None, init_model=start)
    saved, _, _ = checkpoint.load(tmp_path)
    for a, b in zip(saved.weights, before):
        np.testing.assert_allclose(a.numpy(), b, atol=2e-3)   # float16 storage, a near-zero learning rate
