"""Beam search without repeated n-grams, and the decoder ensemble (K=1 is the single model).

Tiny decoders on random feature maps: the search is under test, not the encoder."""
import numpy as np
import pytest

from captioner.data import Vocabulary
from captioner.ensemble import DecoderEnsemble, load_ensemble
from captioner.evaluate import repeats_an_ngram
from captioner.inference import beam_search, make_step_fn, repeated_ngram_bans
from captioner.testing import TINY_WORDS


def tiny_decoder(seed: int, vocab_size: int, max_len: int = 12):
    import keras

    from captioner.model import ModelConfig, build_decoder

    keras.utils.set_random_seed(seed)
    config = ModelConfig(vocab_size=vocab_size, embed_dim=16, hidden_dim=32, attention_dim=16, dropout=0.0,
                         max_len=max_len)
    return build_decoder(config)


class LoopingDecoder:
    """A hand-set decoder that wants to say "a dog runs on a dog runs on ..." forever: the next
    word depends only on the last one, and <end> is always unlikely. The worst case for repeats."""

    def __init__(self, vocab: Vocabulary, max_len: int = 14):
        import tensorflow as tf

        from captioner.model import ModelConfig

        self.config = ModelConfig(vocab_size=len(vocab), max_len=max_len)
        loop = ["a", "dog", "runs", "on"]
        logits = np.full((len(vocab), len(vocab)), -4.0, np.float32)
        logits[:, vocab.end_id] = -6.0
        for here, there in zip(loop, loop[1:] + loop[:1]):
            logits[vocab.stoi[here], vocab.stoi[there]] = 3.0
        logits[vocab.start_id, vocab.stoi["a"]] = 3.0
        self.table = tf.constant(logits)

    def initial_state(self, features, training=False):
        import tensorflow as tf

        rows = tf.shape(features)[0]
        return {"h": tf.zeros((rows, 1)), "c": tf.zeros((rows, 1))}

    def step(self, words, state, training=False):
        import tensorflow as tf

        return tf.gather(self.table, words), state, None


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary(TINY_WORDS)


@pytest.fixture(scope="module")
def features():
    return np.random.default_rng(0).normal(size=(6, 7, 7, 512)).astype(np.float32)


def test_bans_name_exactly_the_words_that_would_repeat_an_ngram():
    history = np.array([[5, 6, 7, 5, 6],      # "5 6" seen before, followed by 7 -> ban 7 (trigram)
                        [5, 6, 7, 8, 9],      # nothing repeats
                        [4, 4, 4, 4, 4]])     # "4 4" followed by 4 every time -> ban 4
    rows, words = repeated_ngram_bans(history, 3)
    assert sorted(zip(rows.tolist(), words.tolist())) == [(0, 7), (2, 4), (2, 4), (2, 4)]
    rows, words = repeated_ngram_bans(history, 2)   # last word 6 (row 0) was followed by 7 before
    assert set(zip(rows.tolist(), words.tolist())) == {(0, 7), (2, 4)}
    assert len(repeated_ngram_bans(history[:, :2], 3)[0]) == 0   # too short to hold a trigram
    rows, words = repeated_ngram_bans(history[:1], 1)
    assert set(words.tolist()) == {5, 6, 7}


@pytest.mark.parametrize("n", [2, 3, 4])
def test_blocking_never_emits_a_repeated_ngram_even_from_a_looping_decoder(vocab, features, n):
    model = LoopingDecoder(vocab)
    step = make_step_fn(model)
    plain = beam_search(model, step, features[:2], vocab, beam_width=3)
    assert all(repeats_an_ngram(h.words, n) for hyps in plain for h in hyps)   # the test can fail
    blocked = beam_search(model, step, features[:2], vocab, beam_width=3, block_ngram=n)
    for hyps in blocked:
        assert len(hyps) == 3 and all(h.words for h in hyps)
        assert not any(repeats_an_ngram(h.words, n) for h in hyps)


def test_blocking_on_a_real_decoder_keeps_every_beam_free_of_repeated_trigrams(vocab, features):
    model = tiny_decoder(seed=3, vocab_size=len(vocab), max_len=20)
    hyps = beam_search(model, make_step_fn(model), features, vocab, beam_width=5, block_ngram=3)
    assert all(len(h) == 5 and not any(repeats_an_ngram(x.words, 3) for x in h) for h in hyps)


def test_ensemble_of_one_decodes_exactly_like_the_model(vocab, features):
    model = tiny_decoder(seed=1, vocab_size=len(vocab))
    alone = beam_search(model, make_step_fn(model), features, vocab, beam_width=3)
    ensemble = DecoderEnsemble([model])
    together = beam_search(ensemble, make_step_fn(ensemble), features, vocab, beam_width=3)
    for a, b in zip(alone, together):
        assert [h.words for h in a] == [h.words for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5)
        np.testing.assert_allclose(a[0].attention, b[0].attention, rtol=1e-5, atol=1e-7)


def test_ensemble_averages_log_probabilities_of_different_members(vocab, features):
    import tensorflow as tf

    first, second = tiny_decoder(seed=1, vocab_size=len(vocab)), tiny_decoder(seed=2, vocab_size=len(vocab))
    ensemble = DecoderEnsemble([first, second])
    words = tf.fill([len(features)], vocab.start_id)
    mean, state, alpha = ensemble.step(words, ensemble.initial_state(tf.constant(features)))
    expected = [tf.nn.log_softmax(m.step(words, m.initial_state(tf.constant(features)))[0]) for m in (first, second)]
    np.testing.assert_allclose(mean.numpy(), (expected[0].numpy() + expected[1].numpy()) / 2, rtol=1e-5, atol=1e-6)
    assert set(state) == {f"{i}/{k}" for i in (0, 1) for k in ("h", "c", "features", "keys")}
    assert alpha.shape == (len(features), 49)
    hyps = beam_search(ensemble, make_step_fn(ensemble), features, vocab, beam_width=3)
    assert all(len(h) == 3 for h in hyps)


def test_ensemble_refuses_members_that_do_not_fit(tmp_path, vocab):
    from captioner import checkpoint

    first = tiny_decoder(seed=1, vocab_size=len(vocab))
    with pytest.raises(ValueError, match="vocabulary"):
        DecoderEnsemble([first, tiny_decoder(seed=1, vocab_size=len(vocab) + 1)])
    with pytest.raises(ValueError, match="at least one"):
        DecoderEnsemble([])
    checkpoint.save(tmp_path / "a", first, vocab, {"name": "a"})
    other = Vocabulary(TINY_WORDS[::-1])
    checkpoint.save(tmp_path / "b", tiny_decoder(seed=2, vocab_size=len(other)), other, {"name": "b"})
    with pytest.raises(ValueError, match="vocabulary differs"):
        load_ensemble([tmp_path / "a", tmp_path / "b"])
    single = load_ensemble([tmp_path / "a"])
    assert single.model_version.startswith("a@") and single.block_ngram == 0
