#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the cluster tests of lemur-data
# (packages/lemur-data/tests/test_corpus_slurm.py): Debian's slurm-wlm + munge, one node with
# every CPU, one partition "debug", no accounting database. Needs root and apt-get (or the
# packages already installed). Idempotent: daemons already up are left as they are.
# Exit 0 when `sinfo` shows the node idle; non-zero with a one-line reason otherwise.
set -euo pipefail

fail() { echo "slurm-up: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (starts munged, slurmctld, slurmd)"

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "slurm-wlm and munge are not installed and there is no apt-get"
  # Another install (CI installs chromium too) may hold the dpkg lock: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq slurm-wlm munge >/dev/null \
    || fail "apt-get install slurm-wlm munge failed"
fi

host=$(hostname -s)
cpus=$(nproc)
# Leave a tenth of the memory to the system; Slurm checks --mem-per-cpu against it.
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=lemur
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue/scontrol for 10 minutes (no accounting database).
MinJobAge=600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key (the package usually makes one), then the daemon as the munge user.
if [ ! -s /etc/munge/munge.key ]; then
  (command -v mungekey >/dev/null 2>&1 && mungekey --create --force) \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force
fi
munge -n | unmunge >/dev/null || fail "munge does not work (see /var/log/munge/munged.log)"

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
  case "$state" in
    idle|mix|alloc) echo "slurm-up: node ${host} ${state}, partition debug, ${cpus} CPUs"; exit 0 ;;
    down*|drain*) scontrol update nodename="${host}" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
fail "the node did not come up (sinfo: '${state:-no answer}'); see /var/log/slurm/slurmd.log and slurmctld.log"
