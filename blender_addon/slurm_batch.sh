#!/usr/bin/env bash
# Spread a folder of videos over a Slurm job array: task K of N converts inputs K, K+N, K+2N, … (batch.py --shard).
#
#   sbatch --array=0-9 blender_addon/slurm_batch.sh VIDEO_DIR OUT_DIR MODEL_DIR [more batch.py flags…]
#
# Submit from the repository root (Slurm runs a copy of this script from its spool folder), or set BATCH_PY to
# batch.py's path (e.g. the one inside the installed extension); BLENDER names the program (default: blender).
# The Slurm options below can be overridden on the sbatch line.
# Output names are unique over the whole folder, so the tasks never write the same file; each task's summary table
# is in its slurm-<job>_<task>.out and a task exits non-zero when one of its inputs failed.
#SBATCH --job-name=smplx-video
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:1
#SBATCH --time=04:00:00
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: sbatch --array=0-N-1 $0 VIDEO_DIR OUT_DIR MODEL_DIR [batch.py flags…]" >&2
  exit 2
fi
videos=$1 out=$2 models=$3
shift 3
task=${SLURM_ARRAY_TASK_ID:-0}
count=${SLURM_ARRAY_TASK_COUNT:-$(( ${SLURM_ARRAY_TASK_MAX:-0} + 1 ))}
batch=${BATCH_PY:-${SLURM_SUBMIT_DIR:-.}/blender_addon/batch.py}
exec "${BLENDER:-blender}" -b --python "$batch" -- --input "$videos" --output "$out" --model-dir "$models" \
  --shard "$task/$count" "$@"
