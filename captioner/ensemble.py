"""K decoders in one beam search over one encoder pass.

`DecoderEnsemble` looks like a single decoder to `beam_search`/`make_step_fn`: its state holds
every member's state under "<i>/<key>", and its step returns the mean of the members'
log-probabilities (renormalised by the log-softmax of the step function; for K=1 that is the
member's own log-softmax, so a one-member ensemble decodes exactly like the model alone).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from captioner import checkpoint


class DecoderEnsemble:
    def __init__(self, members: list):
        if not members:
            raise ValueError("an ensemble needs at least one decoder")
        first = members[0].config
        for member in members[1:]:
            if member.config.feature_layer != first.feature_layer:
                raise ValueError("ensemble members must read the same encoder layer "
                                 f"({member.config.feature_layer} != {first.feature_layer})")
            if member.config.vocab_size != first.vocab_size:
                raise ValueError("ensemble members must share one vocabulary")
        self.members = list(members)
        self.config = first

    def initial_state(self, features, training=False) -> dict:
        state = {}
        for i, member in enumerate(self.members):
            for key, value in member.initial_state(features, training=training).items():
                state[f"{i}/{key}"] = value
        return state

    def step(self, words, state, training=False):
        import tensorflow as tf

        log_probs, alphas, new_state = [], [], {}
        for i, member in enumerate(self.members):
            prefix = f"{i}/"
            own = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
            logits, own, alpha = member.step(words, own, training=training)
            log_probs.append(tf.nn.log_softmax(logits))
            if alpha is not None:
                alphas.append(alpha)
            new_state.update({prefix + key: value for key, value in own.items()})
        mean_log_prob = tf.add_n(log_probs) / len(log_probs)
        # Attention maps are shown to users: the members' mean is the ensemble's "where it looked".
        alpha = tf.add_n(alphas) / len(alphas) if alphas else None
        return mean_log_prob, new_state, alpha


def load_ensemble(directories: list[str | Path], encoder=None, eager: bool = False, **kwargs):
    """A `Captioner` whose decoder is the ensemble of the checkpoints in `directories` (the first
    one's vocabulary, decoding settings and name). All must share the vocabulary."""
    from captioner.inference import Captioner

    if not directories:
        raise ValueError("no ensemble members given")
    models, digests, vocab, meta = [], [], None, None
    for directory in directories:
        model, member_vocab, member_meta = checkpoint.load(directory)
        if vocab is None:
            vocab, meta = member_vocab, member_meta
        elif member_vocab.itos != vocab.itos:
            raise ValueError(f"{directory}: vocabulary differs from {directories[0]}")
        models.append(model)
        digests.append(checkpoint.weights_digest(directory))
    if len(models) == 1:
        version = f"{meta.get('name', Path(directories[0]).name)}@{digests[0][:12]}"
        model = models[0]
    else:
        combined = hashlib.sha256("".join(digests).encode()).hexdigest()[:12]
        version = f"{meta.get('name', Path(directories[0]).name)}-ensemble{len(models)}@{combined}"
        model = DecoderEnsemble(models)
    captioner = Captioner(model, vocab, meta, version, encoder=encoder, **kwargs)
    if eager:
        captioner.encoder  # noqa: B018 - load it now
    return captioner
