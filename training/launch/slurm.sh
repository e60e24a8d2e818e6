#!/usr/bin/env bash
# Multi-node SMPLer-X training on Slurm: one srun task per node, each running torchrun with a c10d rendezvous on
# the first node (replaces the reference's main/slurm_train.sh, which started one python process per GPU).
#
#   sbatch -N 2 --gpus-per-node 8 training/launch/slurm.sh training/configs/smpler_x_h32.py
#   sbatch -N 2 --gpus-per-node 8 training/launch/slurm.sh training/configs/smpler_x_h32.py \
#          --set output_dir=output/h32 data_root=/data/smplerx
#   sbatch -N 2 --gpus-per-node 8 training/launch/slurm.sh --resume output/h32/model_dump/last.pth.tar
#
# The global batch is nodes × GPUs × train_batch_size (H32 reference: 2 × 8 × 16 = 256).
#SBATCH --job-name=smpler-x
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --output=slurm-%j.out
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: sbatch [-N nodes] [--gpus-per-node G] $0 CONFIG.py [--set key=value ...] | --resume CKPT" >&2
  exit 2
fi
if [[ "$1" == --resume ]]; then
  ARGS=("$@")
else
  CONFIG="$1"; shift
  ARGS=(--config "$CONFIG" "$@")
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -n "${SLURM_SUBMIT_DIR:-}" && -d "${SLURM_SUBMIT_DIR}/training" ]]; then
  REPO="$SLURM_SUBMIT_DIR"  # sbatch copies the script away; the submit dir is the checkout
fi
NODES="${SLURM_JOB_NUM_NODES:-1}"
GPUS_PER_NODE="${SLURM_GPUS_ON_NODE:-${GPUS_PER_NODE:-8}}"
HEAD="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)"
PORT="${MASTER_PORT:-$((29500 + ${SLURM_JOB_ID:-0} % 1000))}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
export PYTHONPATH="${REPO}${PYTHONPATH:+:${PYTHONPATH}}"
PY="${PYTHON:-${REPO}/.venv/bin/python}"

cd "$REPO"
echo "nodes=${NODES} gpus/node=${GPUS_PER_NODE} rendezvous=${HEAD}:${PORT} args=${ARGS[*]}"
srun --kill-on-bad-exit=1 --ntasks-per-node=1 \
  "$PY" -m torch.distributed.run \
    --nnodes "$NODES" --nproc_per_node "$GPUS_PER_NODE" \
    --rdzv_id "${SLURM_JOB_ID:-smplerx}" --rdzv_backend c10d --rdzv_endpoint "${HEAD}:${PORT}" \
    -m training.train "${ARGS[@]}"
