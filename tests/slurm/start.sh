#!/usr/bin/env bash
# Start a private one-node Slurm (munged, slurmctld, slurmd) for the tests.
#
#   tests/slurm/start.sh [STATE_DIR]        (or SLURM_TEST_STATE=STATE_DIR)
#
# Installs Debian's slurm-wlm and munge when they are missing (root, apt-get),
# writes STATE_DIR/slurm.conf for this host and a munge key of its own, starts
# the three daemons in the background (their pids in STATE_DIR/*.pid) and
# waits until sinfo shows the node idle. Nothing is written outside STATE_DIR
# but the packages: the daemons use their own ports, munge socket, spool and
# state folders, so a system Slurm or munge, if any, is left alone. Clients
# find this cluster through SLURM_CONF=STATE_DIR/slurm.conf (also written to
# STATE_DIR/env for `source`).
#
# Running it again while the cluster is up does nothing but the idle check.
# Exit status: 0 up; 3 unavailable here (not root, no apt-get, packages not
# installable), with one line "slurm unavailable: REASON" on stderr, so tests
# can skip with it; 1 anything else (a daemon did not come up: see the logs).
# Stop with tests/slurm/stop.sh STATE_DIR.
set -euo pipefail

UNAVAILABLE=3
STATE=${1:-${SLURM_TEST_STATE:-}}
IDLE_TIMEOUT=${SLURM_TEST_IDLE_TIMEOUT:-60}
CPUS=${SLURM_TEST_CPUS:-$(nproc)}

unavailable() { echo "slurm unavailable: $*" >&2; exit "$UNAVAILABLE"; }
fail() { echo "slurm start failed: $*" >&2; exit 1; }

[[ -n $STATE ]] || fail "usage: start.sh STATE_DIR (or SLURM_TEST_STATE)"
[[ $(uname -s) == Linux ]] || unavailable "not Linux"
[[ $(id -u) == 0 ]] || unavailable "needs root (to install and run slurmd)"

PATH=$PATH:/usr/sbin:/sbin
have_slurm() {
  command -v munged && command -v slurmctld && command -v slurmd \
    && command -v sbatch && command -v sacct
} >/dev/null

install_packages() {
  command -v apt-get >/dev/null || unavailable "slurm-wlm not installed, no apt-get"
  # One install at a time (apt-get update takes its lock without waiting).
  exec 7>/tmp/jaxmnist-slurm-install.lock
  flock -w 900 7 || unavailable "/tmp/jaxmnist-slurm-install.lock is held"
  have_slurm && return  # another start.sh installed them meanwhile
  local log=$STATE/log/apt.log
  local apt=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install slurm-wlm munge >"$log" 2>&1; then
    # A fresh image may have no package lists yet.
    if ! { apt-get -q -o DPkg::Lock::Timeout=300 update >>"$log" 2>&1 \
      && "${apt[@]}" install slurm-wlm munge >>"$log" 2>&1; }; then
      unavailable "apt-get install slurm-wlm munge failed: $(tail -n 1 "$log")"
    fi
  fi
  have_slurm || unavailable "slurm-wlm installed but its commands are missing"
  exec 7>&-
}

alive() {  # alive PIDFILE: the pid in PIDFILE runs
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

port_free() {  # nothing listens on 127.0.0.1:PORT
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_ports() {  # two consecutive free ports from SLURM_TEST_PORT (16817)
  local port=${SLURM_TEST_PORT:-16817}
  while ! { port_free "$port" && port_free $((port + 1)); }; do
    port=$((port + 2))
    ((port < 65000)) || fail "no free port pair found"
  done
  echo "$port"
}

write_conf() {  # write_conf CTLD_PORT
  local host; host=$(hostname -s)
  getent hosts "$host" >/dev/null || fail "hostname '$host' does not resolve"
  cat >"$STATE/slurm.conf" <<EOF
# A one-node test cluster written by tests/slurm/start.sh.
ClusterName=jaxmnist
SlurmctldHost=$host
SlurmctldPort=$1
SlurmdPort=$(($1 + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
MinJobAge=600
MailProg=/bin/true
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$STATE/slurm.conf" >"$STATE/env"
}

start_munge() {
  local dir=$STATE/munge
  [[ -s $dir/munge.key ]] \
    || dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge.key"
  alive "$dir/munged.pid" && return
  rm -f "$dir/munge.socket" "$dir/munge.socket.lock"
  munged --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$dir/munged.seed" 8>&- 9>&- \
    || fail "munged did not start: $(tail -n 1 "$STATE/log/munged.log")"
  ln -sf munge/munged.pid "$STATE/munged.pid"
}

start_daemon() {  # start_daemon slurmctld|slurmd
  alive "$STATE/$1.pid" && return
  "$1" -f "$STATE/slurm.conf" 8>&- 9>&- \
    || fail "$1 did not start: $(tail -n 3 "$STATE/log/$1.log")"
}

wait_idle() {
  local state="" deadline=$((SECONDS + IDLE_TIMEOUT))
  while ((SECONDS < deadline)); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null || true)
    [[ $state == idle || $state == mixed || $state == allocated ]] && return
    sleep 0.5
  done
  fail "node not idle after ${IDLE_TIMEOUT}s (state '${state}'); see $STATE/log"
}

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
mkdir -p "$STATE/log" "$STATE/ctld" "$STATE/spool" "$STATE/munge"
chmod 0755 "$STATE" "$STATE/munge"  # munged: socket dirs o+x
# Unix sockets (munge's, slurmd's per step) must fit in 108 bytes.
((${#STATE} <= 60)) || fail "state path longer than 60 characters: $STATE"
have_slurm || install_packages
export SLURM_CONF=$STATE/slurm.conf

exec 9>"$STATE/start.lock"
flock -w 300 9 || fail "another start.sh holds $STATE/start.lock"
# Ports are chosen, and held until the node is up, under a host-wide lock so
# that two clusters started at once (pytest workers) take different ports.
exec 8>/tmp/jaxmnist-slurm-ports.lock
flock -w 300 8 || fail "/tmp/jaxmnist-slurm-ports.lock is held"
[[ -s $STATE/slurm.conf ]] || write_conf "$(free_ports)"
start_munge
start_daemon slurmctld
start_daemon slurmd
wait_idle
echo "$SLURM_CONF"
