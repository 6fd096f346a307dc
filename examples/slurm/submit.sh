#!/usr/bin/env bash
# Submit a sweep as an array of N shard tasks plus a merge job that runs once
# every task has succeeded (--dependency=afterok):
#
#   examples/slurm/submit.sh CONFIG RUN N [sweep options...]
#
# Prints the two job ids. sbatch options come from the #SBATCH lines of the
# two scripts or from sbatch's environment (SBATCH_PARTITION, SBATCH_TIMELIMIT,
# SBATCH_ACCOUNT). The jobs run in the current directory (their logs too).
#
# When a task fails or is cancelled, the merge waits forever (squeue: reason
# DependencyNeverSatisfied). Resubmit that task alone and point the merge at
# it; the other tasks' shards are kept:
#
#   sbatch --array=I examples/slurm/sweep-array.sbatch CONFIG RUN N
#   scontrol update JobId=<merge> Dependency=afterok:<new job id>
set -euo pipefail

if (($# < 3)) || ! [[ $3 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 CONFIG RUN N [sweep options]  (N: shard count >= 1)" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
config=$1 run=$2 shards=$3
shift 3

array=$(sbatch --parsable --array="0-$((shards - 1))" \
  "$here/sweep-array.sbatch" "$config" "$run" "$shards" "$@")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" \
  "$here/merge.sbatch" "$run")
merge=${merge%%;*}
echo "array $array merge $merge"
