#!/usr/bin/env bash
# One short offline run per task on the embedded SmolLM2 (low-data, demo-sized): not the paper's
# setups, a check that every task trains, decodes and scores through the same entry points.
# Usage: bash experiments/offline_task_smoke.sh [extra Hydra overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
common=(logger=none resume=false train.lr=5e-4 train.warmup_steps=10 train.log_every=5 "$@")
$py -m prefix_tuning.train task=webnlg task.train_size=200 train.max_steps=60 train.batch_size=8 eval.max_items=40 \
    method.init=words method.init_words=table-to-text run_dir=runs/smoke-webnlg "${common[@]}"
$py -m prefix_tuning.train task=dart_offline_dev task.train_size=200 train.max_steps=60 train.batch_size=8 eval.max_items=40 \
    method.init=words method.init_words=table-to-text run_dir=runs/smoke-dart "${common[@]}"
$py -m prefix_tuning.train task=xsum_offline50 train.max_steps=30 train.batch_size=8 task.decoding.batch_size=5 \
    method.init=words method.init_words=summarization run_dir=runs/smoke-xsum "${common[@]}"
