#!/bin/sh
# The attention-v2 recipe (issue 13), every stage resumable: run it again after any interruption
# and it continues where it stopped (finished stages are skipped by their marker in $WORK).
#
#   nohup sh captioner/recipe_v2.sh > runs/v2/recipe.log 2>&1 &
#
# 1. VGG16 features of dev and train, of the mirrored train images, and of test (cached once).
# 2. Teacher-forced stage with flip augmentation, warm-started from attention-v1 (select on dev BLEU-4).
# 3. SCST from it, twice with different seeds (the second is the ensemble's other member).
# 4. Decoding chosen on dev: length penalty x repeated n-gram blocking; the ensemble measured on dev.
# 5. Test, once, with what dev chose.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/flickr8k}
WORK=${WORK:-runs/v2}
mkdir -p "$WORK"

stage() {  # stage NAME COMMAND...: run once; the marker says it finished
    name=$1; shift
    if [ -f "$WORK/.done-$name" ]; then echo "== $name: done before"; return 0; fi
    echo "== $name: $(date -u +%H:%M:%S) $*"
    "$@"
    touch "$WORK/.done-$name"
    echo "== $name: finished $(date -u +%H:%M:%S)"
}

stage features "$PY" -m captioner extract-features --data "$DATA" --layers block5_pool --splits dev,train
stage features-flipped "$PY" -m captioner extract-features --data "$DATA" --layers block5_pool --splits train --flip
stage features-test "$PY" -m captioner extract-features --data "$DATA" --layers block5_pool --splits test
stage xe-flip "$PY" -m captioner train --data "$DATA" --init-from captioner/models/attention-v1 --flip 1 \
    --lr 0.0001 --epochs 3 --patience 2 --name vgg16-attention-lstm-v2-xe --out "$WORK/xe-flip" --resume 1
stage scst "$PY" -m captioner scst --data "$DATA" --init "$WORK/xe-flip" --out "$WORK/scst" \
    --name vgg16-attention-lstm-v2 --epochs ${SCST_EPOCHS:-10} --resume 1
stage tune "$PY" -m captioner tune-decoding --data "$DATA" --model "$WORK/scst" --widths 3 \
    --penalties 0.5,1,1.5 --blocks 0,2,3,4 --select targets
stage scst-seed2 "$PY" -m captioner scst --data "$DATA" --init "$WORK/xe-flip" --out "$WORK/scst-seed2" \
    --name vgg16-attention-lstm-v2-seed2 --seed 4321 --epochs ${SCST_SEED2_EPOCHS:-${SCST_EPOCHS:-10}} --resume 1
# Ensemble and latency measured on dev, the choice made, then test once (captioner/finish_v2.py).
stage finish "$PY" -m captioner.finish_v2 --work "$WORK" --data "$DATA"
echo "== all stages done: $(date -u +%H:%M:%S)"
