"""Caption decoders over VGG16 conv maps.

`attention`: Show, Attend and Tell soft attention (Xu et al. 2015). At every step an MLP scores
each of the H*W locations of the conv map against the LSTM state, the softmax weights give a
context vector (gated by a sigmoid of the state), the LSTM consumes [word embedding; context],
and a deep output layer (embedding + state + context) predicts the next word.

`merge`: the classic "merge" model (Tanti et al. 2017): an LSTM reads only the words; the pooled
VGG16 vector is added to its state just before the softmax.

Both expose the same three calls, used by training (teacher forcing) and by beam search:
`initial_state(features)`, `step(words, state)` and `teacher_forcing(features, inputs)`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import keras
import tensorflow as tf
from keras import layers

from captioner.encoder import FEATURE_LAYERS


@dataclass
class ModelConfig:
    kind: str = "attention"            # "attention" or "merge"
    feature_layer: str = "block5_pool"  # 7x7x512; "block5_conv3" is 14x14x512
    vocab_size: int = 0
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 512
    dropout: float = 0.5
    max_len: int = 24                   # words; +2 for <start>/<end>

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return FEATURE_LAYERS[self.feature_layer]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class AttentionDecoder(keras.Model):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        c = config
        channels = c.feature_shape[2]
        self.feature_norm = layers.LayerNormalization(name="feature_norm")
        self.feature_keys = layers.Dense(c.attention_dim, name="feature_keys")
        self.init_h = layers.Dense(c.hidden_dim, activation="tanh", name="init_h")
        self.init_c = layers.Dense(c.hidden_dim, activation="tanh", name="init_c")
        self.embedding = layers.Embedding(c.vocab_size, c.embed_dim, name="embedding")
        self.state_query = layers.Dense(c.attention_dim, name="state_query")
        self.attention_score = layers.Dense(1, name="attention_score")
        self.context_gate = layers.Dense(channels, activation="sigmoid", name="context_gate")
        self.lstm = layers.LSTMCell(c.hidden_dim, name="lstm")
        self.out_state = layers.Dense(c.embed_dim, name="out_state")
        self.out_context = layers.Dense(c.embed_dim, name="out_context")
        self.out_words = layers.Dense(c.vocab_size, name="out_words")
        self.embed_dropout = layers.Dropout(c.dropout)
        self.out_dropout = layers.Dropout(c.dropout)

    def initial_state(self, features, training=False):
        """features: (B, H, W, C) -> state dict (B rows)."""
        shape = tf.shape(features)
        flat = tf.reshape(tf.cast(features, tf.float32), (shape[0], -1, self.config.feature_shape[2]))
        flat = self.feature_norm(flat)
        mean = tf.reduce_mean(flat, axis=1)
        return {
            "h": self.init_h(mean),
            "c": self.init_c(mean),
            "features": flat,
            "keys": self.feature_keys(flat),
        }

    def _attend(self, state):
        query = self.state_query(state["h"])[:, None, :]
        scores = tf.squeeze(self.attention_score(tf.tanh(state["keys"] + query)), -1)
        alpha = tf.nn.softmax(scores, axis=-1)
        context = tf.reduce_sum(alpha[:, :, None] * state["features"], axis=1)
        return alpha, context * self.context_gate(state["h"])

    def _core(self, words, state, training):
        emb = self.embed_dropout(self.embedding(words), training=training)
        alpha, context = self._attend(state)
        h, (h, c) = self.lstm(tf.concat([emb, context], -1), [state["h"], state["c"]], training=training)
        hidden = tf.tanh(emb + self.out_state(h) + self.out_context(context))
        new_state = dict(state, h=h, c=c)
        return hidden, new_state, alpha

    def step(self, words, state, training=False):
        hidden, new_state, alpha = self._core(words, state, training)
        return self.out_words(self.out_dropout(hidden, training=training)), new_state, alpha

    def teacher_forcing(self, features, inputs, training=False):
        """inputs: (B, T) word ids -> logits (B, T, V), attention (B, T, H*W)."""
        state = self.initial_state(features, training=training)
        hiddens, alphas = [], []
        for t in range(inputs.shape[1]):
            hidden, state, alpha = self._core(inputs[:, t], state, training)
            hiddens.append(hidden)
            alphas.append(alpha)
        hidden = self.out_dropout(tf.stack(hiddens, 1), training=training)
        return self.out_words(hidden), tf.stack(alphas, 1)


class MergeDecoder(keras.Model):
    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        c = config
        self.image_dropout = layers.Dropout(c.dropout)
        self.image_dense = layers.Dense(c.hidden_dim, activation="relu", name="image_dense")
        self.embedding = layers.Embedding(c.vocab_size, c.embed_dim, name="embedding")
        self.embed_dropout = layers.Dropout(c.dropout)
        self.lstm = layers.LSTMCell(c.hidden_dim, name="lstm")
        self.merge_dense = layers.Dense(c.hidden_dim, activation="relu", name="merge_dense")
        self.out_words = layers.Dense(c.vocab_size, name="out_words")

    def initial_state(self, features, training=False):
        pooled = tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2])
        image = self.image_dense(self.image_dropout(pooled, training=training))
        zeros = tf.zeros_like(image)
        return {"h": zeros, "c": zeros, "image": image}

    def step(self, words, state, training=False):
        emb = self.embed_dropout(self.embedding(words), training=training)
        h, (h, c) = self.lstm(emb, [state["h"], state["c"]], training=training)
        logits = self.out_words(self.merge_dense(h + state["image"]))
        return logits, dict(state, h=h, c=c), None

    def teacher_forcing(self, features, inputs, training=False):
        state = self.initial_state(features, training=training)
        logits = []
        for t in range(inputs.shape[1]):
            step_logits, state, _ = self.step(inputs[:, t], state, training)
            logits.append(step_logits)
        return tf.stack(logits, 1), None


def build_decoder(config: ModelConfig) -> keras.Model:
    cls = {"attention": AttentionDecoder, "merge": MergeDecoder}[config.kind]
    model = cls(config, name=f"{config.kind}_decoder")
    # Create every variable with one dummy pass so weights can be loaded by name.
    dummy = tf.zeros((1,) + config.feature_shape)
    model.teacher_forcing(dummy, tf.zeros((1, 1), tf.int32))
    return model
