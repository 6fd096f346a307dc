#!/usr/bin/env bash
# Stop the private Slurm that tests/slurm/start.sh started in STATE_DIR.
#
#   tests/slurm/stop.sh [STATE_DIR]         (or SLURM_TEST_STATE=STATE_DIR)
#
# Cancels the cluster's jobs (their steps would outlive slurmd), stops slurmd,
# slurmctld and munged by the pids in STATE_DIR (only when the pid still runs
# that daemon), then removes everything in STATE_DIR but log/. Safe to run
# twice, or on a folder where nothing runs.
set -uo pipefail

STATE=${1:-${SLURM_TEST_STATE:-}}
[[ -n $STATE ]] || { echo "usage: stop.sh STATE_DIR" >&2; exit 1; }
[[ -d $STATE ]] || exit 0
STATE=$(cd "$STATE" && pwd)
PATH=$PATH:/usr/sbin:/sbin
export SLURM_CONF=$STATE/slurm.conf

daemon_pid() {  # daemon_pid NAME PIDFILE: the pid, if it still runs NAME
  local pid
  pid=$(cat "$2" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] \
    && echo "$pid"
}

any_alive() {  # any_alive PID...: one of them still runs
  local pid
  for pid; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

stop_daemons() {  # stop_daemons NAME PIDFILE...: TERM, then KILL after 15 s
  local pids=() pid i
  while (($#)); do
    pid=$(daemon_pid "$1" "$2") && kill -TERM "$pid" 2>/dev/null \
      && pids+=("$pid")
    shift 2
  done
  for ((i = 0; i < 150; i++)); do
    any_alive "${pids[@]}" || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    echo "stop.sh: pid $pid ignored TERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  done
}

cancel_jobs() {  # cancel every job, wait (20 s at most) until none runs
  local i jobs
  jobs=$(squeue -h -o %A 2>/dev/null) || return 0
  [[ -z $jobs ]] && return 0
  # shellcheck disable=SC2086  # one job id per word
  scancel $jobs 2>/dev/null
  for ((i = 0; i < 40; i++)); do
    [[ -z $(squeue -h -t RUNNING,COMPLETING,CONFIGURING -o %A 2>/dev/null) ]] \
      && return 0
    sleep 0.5
  done
  echo "stop.sh: jobs still running after scancel" >&2
}

if daemon_pid slurmctld "$STATE/slurmctld.pid" >/dev/null; then
  cancel_jobs
fi
stop_daemons slurmd "$STATE/slurmd.pid" slurmctld "$STATE/slurmctld.pid"
stop_daemons munged "$STATE/munge/munged.pid"
find "$STATE" -mindepth 1 -maxdepth 1 ! -name log -exec rm -rf {} +
