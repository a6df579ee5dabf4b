#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the end-to-end tier (tests/slurm/test_slurm_run.py):
#   tests/slurm/start_cluster.sh          install slurm-wlm and munge when missing, write slurm.conf,
#                                         start munged, slurmctld and slurmd, wait until the node is idle
#   tests/slurm/start_cluster.sh stop     stop the three daemons this script started
# Needs root (packages, /etc/slurm, daemons); exits 2 with the reason otherwise. Debian's Slurm
# (22.05 on bookworm) with no accounting database, as on many small clusters: `sacct` is installed
# but has nothing to read, so the profile polls with `squeue` (workflow/profiles/slurm/config.yaml)
# and MinJobAge keeps finished jobs visible to squeue and `scontrol show job` for an hour.
# The node declares GPUs it does not have (a count-only `gpu` GRES, no device files): the workflow's
# GPU requests are accepted, checked on the submitted job, and the jobs run on the CPU.
set -euo pipefail

STATE=${ACMNET_SLURM_STATE:-/var/tmp/acmnet-slurm}   # spool, state, pid and log files
CONF=/etc/slurm/slurm.conf
MARK="# written by acmnet tests/slurm/start_cluster.sh"
FAKE_GPUS=${ACMNET_SLURM_GPUS:-4}

die() { echo "start_cluster.sh: $*" >&2; exit "${2:-1}"; }

stop() {
    for daemon in slurmd slurmctld; do
        if [[ -f "$STATE/$daemon.pid" ]] && kill -0 "$(cat "$STATE/$daemon.pid")" 2>/dev/null; then
            kill "$(cat "$STATE/$daemon.pid")"
        fi
    done
    if [[ -f "$STATE/munged.started" && -f /run/munge/munged.pid ]]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
        rm -f "$STATE/munged.started"
    fi
    echo "slurm test cluster stopped"
}

install() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null && return
    command -v apt-get >/dev/null || die "slurm-wlm and munge are missing and this is not a Debian system (no apt-get)" 2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc --all)
    # RealMemory in MB, less 10% for the system (slurmd refuses a node that reports less than declared)
    mem=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    if [[ -f "$CONF" ]] && ! grep -qxF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script: not overwriting a real cluster's configuration" 2
    fi
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
    cat > "$CONF" <<CONF
$MARK
ClusterName=acmnet-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
KillWait=30
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:$FAKE_GPUS State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    # slurmd counts a GPU per device file; plain files stand in for them (nothing opens them)
    for ((i = 0; i < FAKE_GPUS; i++)); do touch "$STATE/fake-gpu$i"; done
    cat > /etc/slurm/gres.conf <<CONF
$MARK
NodeName=$host Name=gpu File=$STATE/fake-gpu[0-$((FAKE_GPUS - 1))]
CONF
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
    [[ -f /etc/munge/munge.key ]] || mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$STATE/munged.started"
    for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.2; done
    die "munged did not start (see /var/log/munge/munged.log)"
}

wait_idle() {
    local state=""
    for _ in $(seq 120); do
        state=$(sinfo --noheader --format=%T 2>/dev/null | head -n1 || true)
        [[ "$state" == idle ]] && { sinfo; return; }
        sleep 0.5
    done
    sinfo --list-reasons >&2 || true
    die "the node is '${state:-unknown}', not idle, after 60 s (logs: $STATE/slurmctld.log, $STATE/slurmd.log)"
}

start() {
    [[ $(id -u) == 0 ]] || die "needs root (installs packages, writes $CONF, starts daemons)" 2
    install
    mkdir -p "$STATE"
    stop >/dev/null
    write_conf
    start_munge
    slurmctld -c      # -c: a clean start, no jobs or node states from an earlier test cluster
    slurmd
    wait_idle
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 [start|stop]" 2 ;;
esac
