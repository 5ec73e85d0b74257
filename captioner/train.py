"""Train a caption decoder on cached VGG16 features.

    python -m captioner train --data ../shared/flickr8k --out runs/attention

Teacher forcing with masked cross-entropy (+ the doubly stochastic attention penalty of
Show, Attend and Tell), Adam with gradient clipping, learning rate halved when the dev score
stalls, early stopping on dev BLEU-4 (beam search on the moving average of the weights), best
checkpoint kept.

`--init-from DIR` warm-starts from a checkpoint (its architecture and vocabulary), `--flip 1` adds
the mirrored train images (`extract-features --flip`) with "left"/"right" swapped in their
captions, and `--resume 1` continues an interrupted run from its last finished epoch.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from captioner import training_state
from captioner.data import Flickr8k, Vocabulary, clean_caption, flip_caption

STATE_FILE = "state/xe_state.npz"


@dataclass
class TrainConfig:
    data: str = "../shared/flickr8k"
    out: str = "runs/attention"
    name: str = "vgg16-attention-lstm"
    kind: str = "attention"
    feature_layer: str = "block5_pool"
    embed_dim: int = 256
    hidden_dim: int = 512
    attention_dim: int = 512
    dropout: float = 0.5
    max_len: int = 24
    min_count: int = 5
    batch_size: int = 64
    epochs: int = 12
    lr: float = 4e-4
    lr_drop: float = 0.5          # multiply the rate by this when dev BLEU-4 does not improve
    patience: int = 3             # epochs without dev improvement before stopping
    clip_norm: float = 5.0
    attention_reg: float = 1.0    # doubly stochastic attention penalty (lambda)
    seed: int = 1234
    dev_images: int = 1000        # dev images scored each epoch (greedy BLEU-4)
    steps_per_epoch: int = 0      # 0: one pass over every caption
    jit_compile: int = 0          # XLA-compile the training step (measured: no gain on these CPUs)
    ema_decay: float = 0.999      # dev scoring and checkpoints use an exponential moving average of the weights
    select_beam: int = 3          # beam width of the per-epoch dev BLEU-4 that selects the checkpoint
    init_from: str = ""           # warm start from this checkpoint (its architecture and vocabulary)
    flip: int = 0                 # 1: also train on the mirrored train images, left/right swapped
    resume: int = 0               # 1: continue from out/state after an interruption (epoch granularity)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def caption_matrix(vocab: Vocabulary, captions: list[list[str]], max_len: int) -> np.ndarray:
    """Tokenised captions -> int32 (N, max_len + 2) rows: <start> w1 .. wn <end> <pad>..."""
    rows = np.zeros((len(captions), max_len + 2), dtype=np.int32)
    for i, words in enumerate(captions):
        ids = vocab.encode(words[:max_len])
        rows[i, : len(ids)] = ids
    return rows


@dataclass
class TrainingData:
    features: np.ndarray            # (images, H, W, C) float16
    image_of_row: np.ndarray        # caption row -> image index
    tokens: np.ndarray              # (rows, max_len + 2)
    dev_features: np.ndarray
    dev_references: list[list[list[str]]] = field(default_factory=list)  # per dev image: tokenised refs


def prepare_data(dataset: Flickr8k, vocab: Vocabulary, config: TrainConfig, train_features, dev_features,
                 train_names, dev_names, flipped_features=None) -> TrainingData:
    """Caption rows of the train images; with `flipped_features` (same image order) every caption
    appears a second time, mirrored, pointing at the flipped image."""
    image_of_row, captions = [], []
    for index, name in enumerate(train_names):
        for caption in dataset.captions[name]:
            image_of_row.append(index)
            captions.append(clean_caption(caption))
    features = np.asarray(train_features)
    if flipped_features is not None:
        if len(flipped_features) != len(train_names):
            raise ValueError(f"{len(flipped_features)} flipped feature rows for {len(train_names)} train images")
        image_of_row += [len(train_names) + i for i in image_of_row]
        captions += [flip_caption(c) for c in captions]
        features = np.concatenate([features, np.asarray(flipped_features)])
    dev_refs = [[clean_caption(c) for c in dataset.captions[name]] for name in dev_names]
    return TrainingData(features, np.asarray(image_of_row), caption_matrix(vocab, captions, config.max_len),
                        np.asarray(dev_features), dev_refs)


def corpus_bleu4(hypotheses: list[list[str]], references: list[list[list[str]]]) -> float:
    from pycocoevalcap.bleu.bleu import Bleu

    gts = {i: [" ".join(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(h) if h else "a"] for i, h in enumerate(hypotheses)}
    score, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(score[3])


def _portable_path(path: str | Path) -> str:
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def fit(config: TrainConfig, vocab: Vocabulary, data: TrainingData, out_dir: str | Path, log=print,
        init_model=None) -> dict:
    """Train (from `init_model`'s weights if given); keep the best (dev BLEU-4) checkpoint in
    out_dir. Returns the history."""
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from captioner import checkpoint
    from captioner.model import ModelConfig, build_decoder
    from captioner.inference import beam_search, make_step_fn

    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_config = ModelConfig(kind=config.kind, feature_layer=config.feature_layer, vocab_size=len(vocab),
                               embed_dim=config.embed_dim, hidden_dim=config.hidden_dim,
                               attention_dim=config.attention_dim, dropout=config.dropout, max_len=config.max_len)
    model = init_model if init_model is not None else build_decoder(model_config)
    optimizer = keras.optimizers.Adam(learning_rate=config.lr, global_clipnorm=config.clip_norm)
    optimizer.build(model.trainable_variables)

    # Polyak averaging: the averaged weights generalise better than the last step's.
    averaged = [tf.Variable(v, trainable=False) for v in model.trainable_variables] if config.ema_decay else []
    updates = tf.Variable(0.0, trainable=False)

    @tf.function(jit_compile=config.jit_compile)
    def train_step(features, tokens):
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        mask = tf.cast(targets != 0, tf.float32)
        with tf.GradientTape() as tape:
            logits, alphas = model.teacher_forcing(features, inputs, training=True)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
            loss = tf.reduce_sum(ce * mask) / tf.reduce_sum(mask)
            total = loss
            if alphas is not None and config.attention_reg:
                # Each location should receive about one unit of attention over the caption.
                coverage = tf.reduce_sum(alphas * mask[:, :, None], axis=1)
                total += config.attention_reg * tf.reduce_mean(tf.reduce_sum((1.0 - coverage) ** 2, -1))
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        # The decay ramps up (as in tf.train.ExponentialMovingAverage with num_updates) so the
        # average is not dominated by the random initial weights in the first epochs.
        updates.assign_add(1.0)
        decay = tf.minimum(config.ema_decay, (1.0 + updates) / (10.0 + updates))
        for average, variable in zip(averaged, model.trainable_variables):
            average.assign(decay * average + (1.0 - decay) * variable)
        return loss

    @contextmanager
    def averaged_weights():
        """Within the block the model holds the averaged weights; the training weights come back after."""
        saved = [v.numpy() for v in model.trainable_variables]
        for variable, average in zip(model.trainable_variables, averaged):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(model.trainable_variables, saved):
                variable.assign(value)

    step_fn = make_step_fn(model)
    dev_features = data.dev_features[: config.dev_images]
    dev_refs = data.dev_references[: config.dev_images]

    def dev_bleu4() -> float:
        hyps = []
        for begin in range(0, len(dev_features), 250):
            chunk = np.asarray(dev_features[begin: begin + 250], dtype=np.float32)
            hyps += [h[0].words for h in beam_search(model, step_fn, chunk, vocab, beam_width=config.select_beam)]
        return corpus_bleu4(hyps, dev_refs)

    rows = len(data.tokens)
    steps = config.steps_per_epoch or max(1, rows // config.batch_size)
    history = {"epoch": [], "train_loss": [], "dev_bleu4": [], "lr": [], "seconds": []}
    best, stale, started, first_epoch = -1.0, 0, time.time(), 1
    state_path = out_dir / STATE_FILE
    state_groups = {"model": model.weights, "averaged": averaged, "optimizer": optimizer.variables, "updates": [updates]}
    if config.resume and state_path.exists():
        saved = training_state.restore(state_path, state_groups)
        history, best, stale = saved["history"], saved["best"], saved["stale"]
        rng.bit_generator.state = saved["rng"]
        first_epoch = saved["epoch"] + 1
        started -= saved["seconds"]
        log(f"resumed from {state_path} after epoch {saved['epoch']} (best dev BLEU-4 {best:.4f})")
    # The checkpoint records where it was trained relative to the working folder, never a
    # machine path (a model directory is copied between machines and committed).
    recorded = asdict(config)
    recorded["out"] = _portable_path(config.out)
    recorded["init_from"] = _portable_path(config.init_from) if config.init_from else ""
    meta = {"name": config.name, "train": recorded}
    if config.resume and state_path.exists() and (out_dir / "config.json").exists():
        meta = checkpoint.read_meta(out_dir)              # keeps best_epoch of the run so far
        meta.pop("model", None)
    for epoch in range(first_epoch, config.epochs + 1):
        if stale >= config.patience:
            break
        order = rng.permutation(rows)
        losses = []
        epoch_start = time.time()
        with tqdm(range(steps), desc=f"epoch {epoch}/{config.epochs}", unit="step", mininterval=5) as bar:
            for step in bar:
                batch = order[(step * config.batch_size) % rows:][: config.batch_size]
                if len(batch) < config.batch_size:
                    batch = np.concatenate([batch, order[: config.batch_size - len(batch)]])
                features = tf.constant(np.asarray(data.features[data.image_of_row[batch]], dtype=np.float32))
                losses.append(float(train_step(features, tf.constant(data.tokens[batch]))))
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        with averaged_weights():
            score = dev_bleu4()
            if score > best:
                best, stale = score, 0
                meta.update(best_epoch=epoch, dev_bleu4_selection=round(score, 4),
                            training_seconds=round(time.time() - started, 1))
                checkpoint.save(out_dir, model, vocab, meta)
            else:
                stale += 1
        history["epoch"].append(epoch)
        history["train_loss"].append(float(np.mean(losses)))
        history["dev_bleu4"].append(score)
        history["lr"].append(float(optimizer.learning_rate.numpy()))
        history["seconds"].append(round(time.time() - epoch_start, 1))
        log(f"epoch {epoch}: train loss {np.mean(losses):.4f}  dev BLEU-4 (beam {config.select_beam}) {score:.4f}  "
            f"lr {float(optimizer.learning_rate.numpy()):.2e}")
        if stale:
            optimizer.learning_rate.assign(optimizer.learning_rate * config.lr_drop)
            if stale >= config.patience:
                log(f"early stop: dev BLEU-4 has not improved for {stale} epochs")
                break
        (out_dir / "history.json").write_text(json.dumps(history, indent=2))
        plot_history(history, out_dir / "training_curve.png", title=config.name)
        training_state.save(state_path, state_groups, {"epoch": epoch, "history": history, "best": best, "stale": stale,
                                                       "rng": rng.bit_generator.state,
                                                       "seconds": round(time.time() - started, 1)})
    history["training_seconds"] = round(time.time() - started, 1)
    (out_dir / "history.json").write_text(json.dumps(history, indent=2))
    plot_history(history, out_dir / "training_curve.png", title=config.name)
    checkpoint.update_meta(out_dir, training_seconds_total=history["training_seconds"])
    return history


def plot_history(history: dict, path: Path, title: str = "") -> None:
    plot_curves(history, path, title, left=("train_loss", "train cross-entropy"),
                right=("dev_bleu4", "dev BLEU-4 (selection)"))


def plot_curves(history: dict, path: Path, title: str, left: tuple[str, str], right: tuple[str, str]) -> None:
    """Two per-epoch series on twin axes; entries that are None (e.g. no training yet) are skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left_axis = plt.subplots(figsize=(6, 3.6), dpi=100)
    for axis, (key, label), style, colour in ((left_axis, left, "o-", "tab:blue"),
                                              (left_axis.twinx(), right, "s-", "tab:red")):
        points = [(e, v) for e, v in zip(history["epoch"], history[key]) if v is not None]
        axis.plot([e for e, _ in points], [v for _, v in points], style, color=colour, label=label)
        axis.set_ylabel(label, color=colour)
    left_axis.set_xlabel("epoch")
    left_axis.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train_on_flickr8k(config: TrainConfig) -> dict:
    from captioner import features
    from captioner.data import load_flickr8k

    dataset = load_flickr8k(config.data)
    init_model = None
    if config.init_from:
        from captioner import checkpoint

        init_model, vocab, init_meta = checkpoint.load(config.init_from)
        c = init_model.config  # the warm start fixes the architecture
        config.kind, config.feature_layer, config.embed_dim, config.hidden_dim = c.kind, c.feature_layer, c.embed_dim, c.hidden_dim
        config.attention_dim, config.max_len = c.attention_dim, c.max_len
    train_names, train_features = features.load(config.feature_layer, "train")
    dev_names, dev_features = features.load(config.feature_layer, "dev")
    flipped = None
    if config.flip:
        flipped_names, flipped = features.load(config.feature_layer, features.flipped_split("train"))
        if flipped_names != train_names:
            raise ValueError("the flipped feature cache lists other images than the train cache: extract it again")
    if init_model is None:
        vocab = Vocabulary.build((clean_caption(c) for n in train_names for c in dataset.captions[n]), config.min_count)
    print(f"vocabulary: {len(vocab)} words (min count {config.min_count}); "
          f"train images {len(train_names)}{' + mirrored' if config.flip else ''}, dev images {len(dev_names)}")
    data = prepare_data(dataset, vocab, config, train_features, dev_features, train_names, dev_names, flipped)
    return fit(config, vocab, data, config.out, init_model=init_model)
