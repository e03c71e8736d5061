#!/usr/bin/env bash
# Streaming training on packed shards with Lightning DDP, launched by torchrun.
#
#   one machine, 4 GPUs:   DATA=shards/ NPROC_PER_NODE=4 recipes/torchrun.sh
#   two machines, 8 GPUs each (run on both; NODE_RANK=0 on the one at MASTER_ADDR):
#       DATA=/shared/shards NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 NPROC_PER_NODE=8 recipes/torchrun.sh
#   CPU test (what the test suite runs): DATA=shards/ ACCELERATOR=cpu SYNC_BATCHNORM=0 NPROC_PER_NODE=2 recipes/torchrun.sh
#
# Every process reads its own shards (no overlap between ranks and loader workers). BATCH_SIZE
# is per process: the global batch is NNODES x NPROC_PER_NODE x BATCH_SIZE. See docs/scaling.md
# for the learning-rate scaling and --sync-batchnorm. Extra arguments go to `audiocnn train`,
# e.g. --resume to continue an interrupted run mid-epoch.
set -euo pipefail

DATA=${DATA:?set DATA to a folder written by audiocnn pack}
OUT=${OUT:-runs/stream}
MODEL=${MODEL:-cnn14}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
NPROC_PER_NODE=${NPROC_PER_NODE:-1}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-29500}
ACCELERATOR=${ACCELERATOR:-gpu}
BATCH_SIZE=${BATCH_SIZE:-32}
EPOCHS=${EPOCHS:-10}
WORKERS=${WORKERS:-4}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-1000}
SYNC_BATCHNORM=${SYNC_BATCHNORM:-1}  # 0 on CPUs: torch's SyncBatchNorm runs on GPUs only
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m torch.distributed.run \
    --nnodes "$NNODES" --node-rank "$NODE_RANK" --nproc-per-node "$NPROC_PER_NODE" \
    --master-addr "$MASTER_ADDR" --master-port "$MASTER_PORT" \
    -m audiocnn.cli train --data "$DATA" --out "$OUT" --model "$MODEL" \
    --accelerator "$ACCELERATOR" --devices "$NPROC_PER_NODE" --num-nodes "$NNODES" --strategy ddp $([ "$SYNC_BATCHNORM" = 1 ] && echo --sync-batchnorm) \
    --batch-size "$BATCH_SIZE" --epochs "$EPOCHS" --num-workers "$WORKERS" --checkpoint-every "$CHECKPOINT_EVERY" \
    --no-progress "$@"
