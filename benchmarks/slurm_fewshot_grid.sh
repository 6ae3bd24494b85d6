#!/usr/bin/env bash
# The paper's few-shot grid as a SLURM job array: one task per shard, all on one shared results folder.
#
#   sbatch --array=0-11 benchmarks/slurm_fewshot_grid.sh ~/data/mineralimage5k /shared/minerals-results
#
# Task ids are 0-based (`--array=0-(N-1)`), so `--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`
# names shard I of N with I in 0..N-1. A task claims each of its cells with a claim file beside the
# run record (heartbeat every minute); a requeued or rerun task reuses every finished cell, and a
# killed task's cell is taken over once its claim is older than MINERALS_CLAIM_TIMEOUT seconds.
# Afterwards `minerals reproduce --profile paper --only few_shot` gathers the table from the records.
#SBATCH --job-name=minerals-fewshot
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
set -euo pipefail
data_root="${1:?usage: sbatch --array=0-(N-1) $0 DATA_ROOT RESULTS}"
results="${2:?usage: sbatch --array=0-(N-1) $0 DATA_ROOT RESULTS}"
export HF_HUB_OFFLINE=1
export MINERALS_CLAIM_TIMEOUT="${MINERALS_CLAIM_TIMEOUT:-600}"
minerals fewshot grid --profile paper --data-root "$data_root" --results "$results" --device cuda \
  --shard "${SLURM_ARRAY_TASK_ID:-0}/${SLURM_ARRAY_TASK_COUNT:-1}"
