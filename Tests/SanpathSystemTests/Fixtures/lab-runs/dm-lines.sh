#!/bin/bash
# Payload: real dm-multipath status/table lines for every selector and feature shape, over
# scsi_debug (one LUN seen through 4 SCSI hosts), maps made by hand with dmsetup (no multipathd),
# then the SanpathSystem tests that need a real device-mapper and uevent netlink.
set -u
O=${OUT:-/out}; mkdir -p $O; : > $O/dm-lines.txt
log() { echo "== $*"; }
snap() { # snap LABEL: record status and table of every map
  { echo "### $1"; echo "# dmsetup status"; dmsetup status --target multipath | sort; echo "# dmsetup table"; dmsetup table --target multipath | sort; } >> $O/dm-lines.txt
}
modprobe dm_multipath; modprobe dm_round_robin; modprobe dm_queue_length; modprobe dm_service_time
modprobe scsi_dh_alua 2>/dev/null
modprobe scsi_debug dev_size_mb=8 num_tgts=1 max_luns=1 add_host=4 vpd_use_hostno=0 || { log "no scsi_debug"; exit 1; }
udevadm settle --timeout=20
ls /sys/block | tr '\n' ' '; echo
for d in sda sdb sdc sdd; do cat /sys/block/$d/dev; done | tr '\n' ' '; echo
S=$(blockdev --getsz /dev/sda)
A=$(cat /sys/block/sda/dev) B=$(cat /sys/block/sdb/dev) C=$(cat /sys/block/sdc/dev) D=$(cat /sys/block/sdd/dev)
mk() { dmsetup create "$1" -u "mpath-$1" --table "0 $S multipath $2" 2>&1 && echo "created $1: $2" || echo "FAILED $1: $2"; }
mk rr   "0 0 1 1 round-robin 0 4 1 $A 1000 $B 1000 $C 1000 $D 1000"
mk ql   "1 queue_if_no_path 0 1 1 queue-length 0 2 1 $A 1 $B 1"
mk st   "2 pg_init_retries 50 0 2 1 service-time 0 1 2 $C 1 1 service-time 0 1 2 $D 1 1"
mk qst  "3 queue_if_no_path pg_init_retries 50 1 alua 2 1 service-time 0 2 2 $A 1 1 $B 1 1 service-time 0 2 2 $C 1 1 $D 1 1" ||
  true
mk none "1 queue_if_no_path 0 0 0"
dmsetup ls --target multipath
snap "created: all paths active"
dmsetup message rr 0 fail_path $B; dmsetup message st 0 fail_path $C; dmsetup message qst 0 fail_path $A
snap "one path failed in rr ($B), st ($C), qst ($A)"
dmsetup message ql 0 fail_path $A; dmsetup message ql 0 fail_path $B
dd if=/dev/mapper/ql of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null & sleep 1
snap "ql: every path failed, queue_if_no_path on, one read queued"
dmsetup message ql 0 fail_if_no_path; wait
snap "ql: fail_if_no_path sent"
dmsetup message st 0 disable_group 2; dmsetup message qst 0 switch_group 2
snap "st: group 2 disabled; qst: switched to group 2"
dmsetup message rr 0 reinstate_path $B; dmsetup message st 0 reinstate_path $C; dmsetup message st 0 enable_group 2
snap "rr and st reinstated"
log "lines captured: $(grep -c multipath $O/dm-lines.txt)"

# The tests that need a real device-mapper and uevent netlink (staged by run-in-lab).
rc=0
if [ -x /lab/sanpathPackageTests.xctest ]; then
  cd /lab && LD_LIBRARY_PATH=/lab/lib ./sanpathPackageTests.xctest --testing-library swift-testing \
    --filter "DeviceMapperTests|UdevTests" > $O/tests.txt 2>&1 || rc=1
  sed 's/\x1b\[[0-9;]*m//g' $O/tests.txt | grep -E "✔|✘|➜|Test run|Expectation" | head -40
fi
for m in rr ql st qst none; do dmsetup remove $m 2>/dev/null; done
exit $rc
