"""Self-critical sequence training (Rennie et al. 2017) with the mean-of-the-others baseline (Luo 2020).

    python -m captioner scst --init runs/xe-flip --out runs/scst        # --resume 1 after an interruption

Per batch of images: sample k captions per image from the current decoder (one vectorised
sampling pass over all B*k rows), reward each with CIDEr-D against that image's train references
(document frequencies of the train split), subtract the mean reward of the image's other k-1
samples, and ascend the policy gradient sum_t (r - b) * log p(w_t). Each epoch the decoder is
scored on dev with beam search (CIDEr-D, BLEU-4); the best is kept in `out`. The whole training
state is saved every `checkpoint_seconds` and at the end of each epoch; sampling is seeded by
(seed, step) and the image order by (seed, epoch), so a resumed run continues exactly where the
saved one stopped.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from captioner import training_state
from captioner.cider import CiderD

STATE_FILE = "state/scst_state.npz"


@dataclass
class ScstConfig:
    data: str = "../shared/flickr8k"
    init: str = "runs/xe-flip"       # teacher-forced checkpoint to start from
    out: str = "runs/scst"
    name: str = "vgg16-attention-lstm-scst"
    samples: int = 5                 # k captions sampled per image
    batch_images: int = 32           # images per update (B*k sequences)
    lr: float = 5e-5
    clip_norm: float = 5.0
    epochs: int = 20
    patience: int = 4                # epochs without dev CIDEr-D gain before stopping
    max_words: int = 16              # sampled caption length cap (references: 10.8 words on average)
    # Weight of the teacher-forced loss on the batch images' own references, added to the policy
    # gradient (0: pure SCST). An anchor: pure SCST lowered dev CIDEr-D here (README, issue 13).
    xe_weight: float = 0.0
    seed: int = 1234
    checkpoint_seconds: float = 180.0
    dev_images: int = 1000
    select_beam: int = 3
    resume: int = 0

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def sequences_to_words(sequences: np.ndarray, vocab) -> tuple[list[list[str]], np.ndarray]:
    """Sampled ids (N, T) -> words before <end>, and the mask of tokens that count (up to and
    including the first <end>; a caption cut at T has no <end>)."""
    ends = sequences == vocab.end_id
    first_end = np.where(ends.any(1), ends.argmax(1), sequences.shape[1] - 1)
    mask = (np.arange(sequences.shape[1])[None, :] <= first_end[:, None]).astype(np.float32)
    words = [vocab.decode(row[: first_end[i] + 1]) for i, row in enumerate(sequences)]
    return words, mask


def leave_one_out_advantage(rewards: np.ndarray) -> np.ndarray:
    """rewards (B, k) -> r - mean of the other k-1 samples of the same image."""
    k = rewards.shape[1]
    others = (rewards.sum(1, keepdims=True) - rewards) / (k - 1)
    return rewards - others


class ScstTrainer:
    """Owns the decoder, the optimizer and the compiled sampling / update functions."""

    def __init__(self, model, vocab, config: ScstConfig):
        import keras
        import tensorflow as tf

        self.model, self.vocab, self.config = model, vocab, config
        self.optimizer = keras.optimizers.Adam(learning_rate=config.lr, global_clipnorm=config.clip_norm)
        self.optimizer.build(model.trainable_variables)
        steps = config.max_words + 1                                   # words + <end>
        if steps > 64:
            raise ValueError("max_words must be below 64 (sampling seeds reserve 64 positions per update)")
        # Never sampled: <pad>, <start>, <unk>; <end> not as the first word (as in beam search).
        ban = np.zeros((steps, len(vocab)), np.float32)
        ban[:, [vocab.pad_id, vocab.start_id, vocab.unk_id]] = -1e9
        ban[0, vocab.end_id] = -1e9
        self.ban = tf.constant(ban)
        self.steps = steps

        @tf.function(reduce_retracing=True)
        def sample(features, seed):
            state = model.initial_state(features)
            words = tf.fill([tf.shape(features)[0]], vocab.start_id)
            out = []
            for t in range(steps):
                logits, state, _ = model.step(words, state, training=False)
                # One stream per (update, position): seed = [run seed, update * 64 + position].
                words = tf.random.stateless_categorical(logits + self.ban[t], 1, seed=seed * [1, 64] + [0, t],
                                                        dtype=tf.int32)[:, 0]
                out.append(words)
            return tf.stack(out, 1)

        def policy_loss(features, sequences, mask, advantage):
            """-sum (r - b) log p(w_t) over the sampled words, per counted token."""
            inputs = tf.concat([tf.fill([tf.shape(sequences)[0], 1], vocab.start_id), sequences[:, :-1]], 1)
            logits, _ = model.teacher_forcing(features, inputs, training=False)
            logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=sequences, logits=logits + self.ban[None])
            return -tf.reduce_sum(advantage[:, None] * logp * mask) / tf.reduce_sum(mask)

        @tf.function(reduce_retracing=True)
        def update(features, sequences, mask, advantage):
            with tf.GradientTape() as tape:
                loss = policy_loss(features, sequences, mask, advantage)
            grads = tape.gradient(loss, model.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        @tf.function(reduce_retracing=True)
        def update_anchored(features, sequences, mask, advantage, ref_features, ref_tokens):
            ref_inputs, ref_targets = ref_tokens[:, :-1], ref_tokens[:, 1:]
            ref_mask = tf.cast(ref_targets != vocab.pad_id, tf.float32)
            with tf.GradientTape() as tape:
                loss = policy_loss(features, sequences, mask, advantage)
                ref_logits, _ = model.teacher_forcing(ref_features, ref_inputs, training=False)
                xe = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ref_targets, logits=ref_logits)
                total = loss + config.xe_weight * tf.reduce_sum(xe * ref_mask) / tf.reduce_sum(ref_mask)
            grads = tape.gradient(total, model.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        self._sample, self._update, self._update_anchored = sample, update, update_anchored

    def train_step(self, features: np.ndarray, images: np.ndarray, cider: CiderD, step: int,
                   ref_tokens: np.ndarray | None = None) -> dict:
        """One update on a batch of images (features (B, H, W, C); `images` index cider's references;
        with xe_weight, `ref_tokens` (B, refs, L) are the images' references as caption rows)."""
        import tensorflow as tf

        k = self.config.samples
        repeated = tf.constant(np.repeat(np.asarray(features, np.float32), k, axis=0))
        seed = tf.constant([self.config.seed, step], tf.int32)
        sequences = self._sample(repeated, seed).numpy()
        words, mask = sequences_to_words(sequences, self.vocab)
        rewards = np.array([cider.score(w, int(img)) for w, img in zip(words, np.repeat(images, k))])
        advantage = leave_one_out_advantage(rewards.reshape(-1, k)).reshape(-1).astype(np.float32)
        if self.config.xe_weight and ref_tokens is not None:
            per_image = ref_tokens.shape[1]
            loss = self._update_anchored(
                repeated, tf.constant(sequences), tf.constant(mask), tf.constant(advantage),
                tf.constant(np.repeat(np.asarray(features, np.float32), per_image, axis=0)),
                tf.constant(ref_tokens.reshape(-1, ref_tokens.shape[2])))
        else:
            loss = self._update(repeated, tf.constant(sequences), tf.constant(mask), tf.constant(advantage))
        return {"loss": float(loss), "reward": float(rewards.mean()),
                "distinct": len({tuple(w) for w in words}) / len(words)}

    def state_groups(self) -> dict:
        return {"model": self.model.weights, "optimizer": self.optimizer.variables}


def dev_scores(model, step_fn, vocab, features, references, beam_width: int, length_penalty: float) -> dict:
    """Beam-search captions of the dev images scored with pycocoevalcap (CIDEr-D, BLEU-4) on our tokens."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    from captioner.inference import beam_search

    hyps = []
    for begin in range(0, len(features), 250):
        chunk = np.asarray(features[begin: begin + 250], dtype=np.float32)
        hyps += [h[0].words for h in beam_search(model, step_fn, chunk, vocab, beam_width=beam_width,
                                                 length_penalty=length_penalty)]
    gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(h) or "a"] for i, h in enumerate(hyps)}
    cider, _ = Cider().compute_score(gts, res)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    distinct = len({" ".join(h) for h in hyps}) / max(1, len(hyps))
    return {"dev_cider": float(cider), "dev_bleu4": float(bleu[3]), "dev_distinct": distinct}


def fit_scst(config: ScstConfig, model, vocab, init_meta: dict, train_features, train_refs, dev_features, dev_refs,
             out_dir: str | Path, log=print, stop_after_steps: int | None = None) -> dict:
    """Train; keep the best dev CIDEr-D checkpoint in out_dir. `stop_after_steps` ends the run after
    that many updates in this call (as an interruption would), saving the state first."""
    from tqdm import tqdm

    from captioner import checkpoint
    from captioner.inference import make_step_fn
    from captioner.train import plot_curves

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / STATE_FILE
    trainer = ScstTrainer(model, vocab, config)
    step_fn = make_step_fn(model)                    # traced once, reused by every dev evaluation
    cider = CiderD(train_refs)
    ref_tokens = None
    if config.xe_weight:
        from captioner.train import caption_matrix

        per_image = min(len(refs) for refs in train_refs)      # Flickr8k: 5 for every image
        ref_tokens = caption_matrix(vocab, [r for refs in train_refs for r in refs[:per_image]],
                                    model.config.max_len).reshape(len(train_refs), per_image, -1)
    length_penalty = init_meta.get("decoding", {}).get("length_penalty", 1.0)
    dev_features, dev_refs = dev_features[: config.dev_images], dev_refs[: config.dev_images]
    steps_per_epoch = max(1, len(train_features) // config.batch_images)
    info = {"epoch": 1, "step_in_epoch": 0, "global_step": 0, "best": -1.0, "stale": 0, "history": None,
            "train_seconds": 0.0, "window": {"reward": [], "loss": [], "distinct": []}}
    if config.resume and state_path.exists():
        info = training_state.restore(state_path, trainer.state_groups())
        log(f"resumed from {state_path}: epoch {info['epoch']}, step {info['step_in_epoch']} "
            f"(update {info['global_step']})")
    recorded = dict(asdict(config), out=Path(config.out).name, init=Path(config.init).name)
    meta = dict(init_meta, name=config.name, scst=recorded)
    if info["history"] is None:                      # epoch 0: where the teacher-forced model starts
        scores = dev_scores(model, step_fn, vocab, dev_features, dev_refs, config.select_beam, length_penalty)
        info["history"] = {"epoch": [0], "train_reward": [None], "train_loss": [None], "seconds": [0.0],
                           **{key: [value] for key, value in scores.items()}}
        info["best"] = scores["dev_cider"]
        # The starting model is the incumbent: if no SCST epoch beats it on dev, it is what `out` holds.
        checkpoint.save(out_dir, model, vocab, dict(meta, best_epoch=0, dev_cider_selection=round(scores["dev_cider"], 4),
                                                    dev_bleu4_at_selection=round(scores["dev_bleu4"], 4)))
        log(f"epoch 0 (start): dev CIDEr-D {scores['dev_cider']:.4f}  BLEU-4 {scores['dev_bleu4']:.4f}")

    def save_state():
        training_state.save(state_path, trainer.state_groups(), info)

    steps_this_call, last_save = 0, time.time()
    while info["epoch"] <= config.epochs and info["stale"] < config.patience:
        epoch = info["epoch"]
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train_features))
        started = time.time()
        with tqdm(total=steps_per_epoch, initial=info["step_in_epoch"], desc=f"scst epoch {epoch}",
                  unit="step", mininterval=10) as bar:
            while info["step_in_epoch"] < steps_per_epoch:
                if stop_after_steps is not None and steps_this_call >= stop_after_steps:
                    save_state()
                    return info["history"]
                begin = info["step_in_epoch"] * config.batch_images
                images = np.sort(order[begin: begin + config.batch_images])  # sorted: faster memmap reads
                result = trainer.train_step(train_features[images], images, cider, info["global_step"],
                                            ref_tokens[images] if ref_tokens is not None else None)
                for key in info["window"]:
                    info["window"][key].append(result[key])
                info["step_in_epoch"] += 1
                info["global_step"] += 1
                steps_this_call += 1
                bar.update(1)
                bar.set_postfix(reward=f"{np.mean(info['window']['reward'][-20:]):.3f}")
                if time.time() - last_save >= config.checkpoint_seconds:
                    info["train_seconds"] += time.time() - started
                    started = time.time()
                    save_state()
                    last_save = time.time()
        info["train_seconds"] += time.time() - started
        scores = dev_scores(model, step_fn, vocab, dev_features, dev_refs, config.select_beam, length_penalty)
        history = info["history"]
        history["epoch"].append(epoch)
        history["train_reward"].append(float(np.mean(info["window"]["reward"])))
        history["train_loss"].append(float(np.mean(info["window"]["loss"])))
        history["seconds"].append(round(info["train_seconds"], 1))
        for key, value in scores.items():
            history[key].append(value)
        improved = scores["dev_cider"] > info["best"]
        if improved:
            info["best"], info["stale"] = scores["dev_cider"], 0
            meta.update(best_epoch=epoch, dev_cider_selection=round(scores["dev_cider"], 4),
                        dev_bleu4_at_selection=round(scores["dev_bleu4"], 4),
                        scst_seconds=round(info["train_seconds"], 1))
            checkpoint.save(out_dir, model, vocab, meta)
        else:
            info["stale"] += 1
        log(f"epoch {epoch}: train reward {history['train_reward'][-1]:.4f}  sample distinct "
            f"{np.mean(info['window']['distinct']):.3f}  dev CIDEr-D {scores['dev_cider']:.4f}  "
            f"BLEU-4 {scores['dev_bleu4']:.4f}  distinct {scores['dev_distinct']:.3f}"
            f"{'  (best)' if improved else ''}")
        info.update(epoch=epoch + 1, step_in_epoch=0, window={"reward": [], "loss": [], "distinct": []})
        save_state()
        last_save = time.time()
        (out_dir / "scst_history.json").write_text(json.dumps(history, indent=2))
        plot_curves(history, out_dir / "scst_dev_curve.png", title=f"{config.name}: SCST",
                    left=("train_reward", "train reward (CIDEr-D)"), right=("dev_cider", "dev CIDEr-D (beam)"))
    return info["history"]


def scst_on_flickr8k(config: ScstConfig, log=None) -> dict:
    from captioner import checkpoint, features
    from captioner.data import clean_caption, load_flickr8k

    if log is None:                                   # print, and keep a log beside the checkpoint
        Path(config.out).mkdir(parents=True, exist_ok=True)
        log_file = Path(config.out) / "scst.log"

        def log(line: str) -> None:
            stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {line}"
            print(stamped, flush=True)
            with open(log_file, "a") as handle:
                handle.write(stamped + "\n")

    dataset = load_flickr8k(config.data)
    model, vocab, init_meta = checkpoint.load(config.init)
    layer = model.config.feature_layer
    train_names, train_features = features.load(layer, "train")
    dev_names, dev_features = features.load(layer, "dev")
    train_refs = [[clean_caption(c) for c in dataset.captions[n]] for n in train_names]
    dev_refs = [[clean_caption(c) for c in dataset.captions[n]] for n in dev_names]
    log(f"SCST from {config.init}: {len(train_names)} train images, {config.samples} samples each, "
        f"batch {config.batch_images} images, lr {config.lr}")
    return fit_scst(config, model, vocab, init_meta, np.asarray(train_features), train_refs,
                    np.asarray(dev_features), dev_refs, config.out, log=log)
