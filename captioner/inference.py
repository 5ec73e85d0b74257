"""Inference: beam search over a decoder, and the `Captioner` used by the worker and the CLI.

    cap = Captioner.load(path)          # once per process
    results = cap.caption([jpeg_bytes, pil_image, ...])

Each result is a `CaptionResult` or, for an image that cannot be read, a `CaptionError`
(returned in its place, never raised): one bad photo does not fail a batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from captioner import checkpoint
from captioner.data import Vocabulary
from captioner.encoder_runtime import as_runtime, check_runtime_name, load_runtime
from captioner.paths import DEFAULT_MODEL_DIR
from captioner.preprocess import ImageDecodeError, encoder_input

DEFAULT_BEAM_WIDTH = 3
DEFAULT_LENGTH_PENALTY = 1.0  # score / length**alpha; alpha=1 is the plain per-word mean


class CaptionError(Exception):
    """An image that could not be captioned; `reason` says why, in words a user can act on."""

    def __init__(self, reason: str, index: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.index = index


@dataclass
class Hypothesis:
    words: list[str]
    score: float                      # length-normalised log-probability
    attention: np.ndarray | None = None  # (len(words), H*W)


@dataclass
class CaptionResult:
    caption: str
    alternatives: list[dict]          # [{"caption", "score"}], best first, the best included
    attention: list[dict]             # [{"word", "weights": H x W}] for the best caption
    model_version: str
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "caption": self.caption,
            "alternatives": self.alternatives,
            "attention": self.attention,
            "model_version": self.model_version,
            "timings": self.timings,
        }


# Only the recurrent part of a state moves between beams; the rest (image features, attention
# keys) is the same for every beam of an image, and beams never move across images.
RECURRENT_STATE = ("h", "c")


def _state_key_is_recurrent(key: str) -> bool:
    # An ensemble prefixes each member's keys ("0/h", "1/c"); the last part names the tensor.
    return key.rsplit("/", 1)[-1] in RECURRENT_STATE


def repeated_ngram_bans(history: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, words) such that appending `words[i]` to row `rows[i]` of `history` would repeat an
    n-gram already in that row. history: (rows, t) word ids. Vectorised over rows and positions."""
    t = history.shape[1]
    if n < 1 or t < n:                       # no complete n-gram yet: nothing can repeat
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n == 1:
        rows = np.repeat(np.arange(len(history)), t)
        return rows, history.reshape(-1).astype(np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(history, n - 1, axis=1)  # (rows, t-n+2, n-1)
    prefix = history[:, t - n + 1:]                                             # the last n-1 words
    # Earlier windows equal to the current prefix; the word after each is banned.
    match = np.all(windows[:, : t - n + 1] == prefix[:, None, :], axis=2)       # (rows, t-n+1)
    rows, starts = np.nonzero(match)
    return rows, history[rows, starts + n - 1].astype(np.int64)


def beam_search(model, step_fn, features: np.ndarray, vocab: Vocabulary, beam_width: int = DEFAULT_BEAM_WIDTH,
                max_len: int | None = None, length_penalty: float = DEFAULT_LENGTH_PENALTY,
                block_ngram: int = 0) -> list[list[Hypothesis]]:
    """Batched beam search. Returns, per image, up to `beam_width` hypotheses, best first.

    Scores are log-probabilities divided by length**length_penalty (length counts <end>).
    <pad>, <start> and <unk> are never emitted, and a caption has at least one word.
    block_ngram=n (>0) never lets a caption contain the same n words twice ("a bike on a bike").
    """
    import tensorflow as tf

    n, k = len(features), beam_width
    max_len = max_len or model.config.max_len + 1
    state = model.initial_state(tf.constant(features))
    state = {key: tf.gather(value, np.repeat(np.arange(n), k)) for key, value in state.items()}  # k rows an image
    rows = np.arange(n * k)                                              # which row each beam continues
    words = np.full(n * k, vocab.start_id, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float64)
    scores[:, 0] = 0.0                                                   # start from one beam
    history = np.zeros((n * k, 0), dtype=np.int32)                     # words so far, per row
    attn_history = None                                                  # (n*k, t, H*W)
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    banned = [vocab.pad_id, vocab.start_id, vocab.unk_id]
    vocab_size = len(vocab)

    for t in range(max_len):
        logp, state, alpha = step_fn(tf.constant(words), state, tf.constant(rows))
        logp = logp.numpy().astype(np.float64)
        logp[:, banned] = -np.inf
        if t == 0:
            logp[:, vocab.end_id] = -np.inf                              # never an empty caption
        if block_ngram:
            ban_rows, ban_words = repeated_ngram_bans(history, block_ngram)
            logp[ban_rows, ban_words] = -np.inf
        if t == max_len - 1:                                             # out of room: must end
            forced = np.full_like(logp, -np.inf)
            forced[:, vocab.end_id] = logp[:, vocab.end_id]
            logp = forced
        alpha = None if alpha is None else alpha.numpy()
        total = (scores.reshape(-1, 1) + logp).reshape(n, k * vocab_size)
        # The 2k best candidates (enough to refill k live beams), best first.
        top = np.argpartition(-total, 2 * k - 1, axis=1)[:, : 2 * k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(total, top, 1), axis=1), 1)
        next_rows = np.repeat(np.arange(n)[:, None] * k, k, axis=1)     # dead slots point at own rows
        next_words = np.full((n, k), vocab.end_id, dtype=np.int32)
        next_scores = np.full((n, k), -np.inf)
        for i in range(n):
            live = 0
            for flat in top[i]:
                score = total[i, flat]
                if not np.isfinite(score):
                    break
                beam, word = divmod(int(flat), vocab_size)
                row = i * k + beam
                if word == vocab.end_id:
                    if len(finished[i]) < k:
                        seq = history[row].tolist()
                        attn = None
                        if alpha is not None:
                            past = attn_history[row] if attn_history is not None else alpha[row][:0]
                            attn = np.concatenate([past, alpha[row][None]], 0)
                        finished[i].append(Hypothesis(vocab.decode(seq), score / (len(seq) + 1) ** length_penalty, attn))
                    continue
                if live < k:
                    next_rows[i, live], next_words[i, live], next_scores[i, live] = row, word, score
                    live += 1
            if len(finished[i]) >= k:
                next_scores[i] = -np.inf                                 # image done: stop growing
        if all(len(f) >= k for f in finished) or not np.isfinite(next_scores).any():
            break
        rows = next_rows.reshape(-1)
        history = np.concatenate([history[rows], next_words.reshape(-1, 1)], 1)
        if alpha is not None:
            step_alpha = alpha[rows][:, None, :]
            attn_history = step_alpha if attn_history is None else np.concatenate([attn_history[rows], step_alpha], 1)
        words = next_words.reshape(-1)
        scores = next_scores
    return [sorted(f, key=lambda h: -h.score) for f in finished]


def make_step_fn(model):
    """One compiled decoding step: reorder the recurrent state by beam, step, log-softmax.
    Doing all three in one graph call keeps beam search cheap next to the encoder."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)  # XLA measured: 56 vs 61 ms a batch, not worth compiling
    def step(words, state, rows):
        state = {k: tf.gather(v, rows) if _state_key_is_recurrent(k) else v for k, v in state.items()}
        logits, state, alpha = model.step(words, state, training=False)
        return tf.nn.log_softmax(logits), state, alpha

    return step


class Captioner:
    def __init__(self, model, vocab: Vocabulary, meta: dict, version: str, encoder=None,
                 beam_width: int = DEFAULT_BEAM_WIDTH, length_penalty: float | None = None,
                 block_ngram: int | None = None, encoder_runtime: str | None = None):
        self.model = model
        self.vocab = vocab
        self.meta = meta
        self.model_version = version
        self.beam_width = beam_width
        decoding = meta.get("decoding", {})
        self.length_penalty = length_penalty if length_penalty is not None else decoding.get(
            "length_penalty", DEFAULT_LENGTH_PENALTY)
        # Repeated n-gram blocking as chosen on dev (0: off, as for models tuned before it existed).
        self.block_ngram = block_ngram if block_ngram is not None else decoding.get("block_ngram", 0)
        # Checked now, so a misconfigured name fails at start-up rather than at the first photo.
        self.encoder_runtime = check_runtime_name(encoder_runtime) if encoder is None else getattr(
            encoder, "name", "custom")
        self._encoder = None if encoder is None else as_runtime(encoder)
        self._step = make_step_fn(model)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL_DIR, encoder=None, eager: bool = True, **kwargs) -> "Captioner":
        """Load a checkpoint; `eager` also loads the VGG16 encoder now (a worker wants that at
        start-up), otherwise on first use (evaluation on cached features never needs it).
        `encoder_runtime="fp32"|"bf16"|"int8"` picks the encoder (None: `DEFAULT_RUNTIME`);
        `encoder` (a runtime or a Keras model) overrides it."""
        model, vocab, meta = checkpoint.load(path)
        version = f"{meta.get('name', Path(path).name)}@{checkpoint.weights_digest(path)[:12]}"
        captioner = cls(model, vocab, meta, version, encoder=encoder, **kwargs)
        if eager:
            captioner.encoder  # noqa: B018 - load it now
        return captioner

    @property
    def encoder(self):
        """The encoder runtime (`captioner.encoder_runtime`), loaded on first use."""
        if self._encoder is None:
            self._encoder = load_runtime(self.encoder_runtime, self.model.config.feature_layer)
        return self._encoder

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """(N, 224, 224, 3) arrays from `encoder_input` -> float32 feature maps (N, H, W, C)."""
        return self.encoder(batch)

    def caption_features(self, features: np.ndarray, beam_width: int | None = None) -> list[list[Hypothesis]]:
        return beam_search(self.model, self._step, np.asarray(features, dtype=np.float32), self.vocab,
                           beam_width=beam_width or self.beam_width, length_penalty=self.length_penalty,
                           block_ngram=self.block_ngram)

    def caption(self, images, beam_width: int | None = None, batch_size: int = 8) -> list:
        """Caption a list of images (bytes or PIL images). Never raises for one bad image."""
        results: list = [None] * len(images)
        ready: list[tuple[int, np.ndarray]] = []
        for index, image in enumerate(images):
            try:
                ready.append((index, encoder_input(image)))
            except ImageDecodeError as exc:
                results[index] = CaptionError(str(exc), index)
            except Exception as exc:  # any decoder bug in Pillow must not fail the whole batch
                results[index] = CaptionError(f"cannot read image: {exc.__class__.__name__}: {exc}", index)
        h, w, _ = self.model.config.feature_shape
        for begin in range(0, len(ready), batch_size):
            chunk = ready[begin: begin + batch_size]
            started = time.perf_counter()
            features = self.encode(np.stack([array for _, array in chunk]))
            encoded = time.perf_counter()
            hypotheses = self.caption_features(features, beam_width)
            decoded = time.perf_counter()
            per_image = {"encode_s": round((encoded - started) / len(chunk), 4),
                         "decode_s": round((decoded - encoded) / len(chunk), 4)}
            for (index, _), hyps in zip(chunk, hypotheses):
                best = hyps[0]
                attention = []
                if best.attention is not None:
                    attention = [{"word": word, "weights": np.round(best.attention[i].reshape(h, w), 4).tolist()}
                                 for i, word in enumerate(best.words)]
                results[index] = CaptionResult(
                    caption=" ".join(best.words),
                    alternatives=[{"caption": " ".join(x.words), "score": round(float(x.score), 4)} for x in hyps],
                    attention=attention,
                    model_version=self.model_version,
                    timings=per_image,
                )
        return results
