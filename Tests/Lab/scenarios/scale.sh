#!/bin/bash
# Tests/Lab/scenarios/scale.sh: NLUNS (default 64) LUNs x 2 paths on a host provisioned by
# sanpath (SCALE_VENDOR, default equallogic: no ALUA, one multibus group per map; netapp adds
# ALUA and takes much longer under TCG, see Tests/Lab/README.md). Checks that every map
# forms with both paths active/ready and records how long each stage took, then times the
# status commands a monitor would use (REPEAT runs each; min/median/max ms). It is the place
# for the daemon benchmarks later.
# Results: $OUT/timings.txt (stages + command timings), $OUT/multipath-ll.txt, checks.txt.
# Run: Tests/Lab/run-suite scale   (env NLUNS=64 REPEAT=5 SCALE_VENDOR=equallogic LAB_NTARGETS=1)
# lab-timeout: 900
# lab-suite: opt-in (11 minutes under TCG: run it by name, e.g. for the monitor benchmarks)
set -uo pipefail
source /lab/guest/lib.sh
NLUNS=${NLUNS:-64} REPEAT=${REPEAT:-5} vendor=${SCALE_VENDOR:-equallogic}
T=$OUT/timings.txt
stage() { echo "stage  $(printf '%-44s' "$1") $2 s" | tee -a "$T"; }

say "scale: $NLUNS $vendor LUNs x 2 paths, ${LAB_NTARGETS:-1} target(s)"
echo "scale: NLUNS=$NLUNS vendor=$vendor targets=${LAB_NTARGETS:-1} accel=${LAB_ACCEL:-?} cpus=$(nproc) mem=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)M" > "$T"
stage "payload start (guest uptime)" "$(uptime_s)"
lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
t0=$(now)
check "LIO target: $NLUNS LUNs" lab_target_setup "$vendor" "$NLUNS" 16 || lab_finish
stage "LIO target with $NLUNS LUNs" "$(since "$t0")"

t0=$(now)
rm -f /etc/multipath.conf /etc/iscsi/iscsid.conf
check "sanpath installed in the guest" lab_sanpath_install || lab_finish
lab_site "$vendor" nc
expect_rc 0 apply.txt "sanpath apply ($vendor nc profile)" sanpath apply
check "iscsid started" lab_iscsid_start
check "multipathd started" lab_multipathd_start
check "node records" lab_nodes_new "$vendor"
stage "sanpath apply + iscsid + multipathd + node records" "$(since "$t0")"

t0=$(now)
check "login through both paths" lab_login "$vendor"
stage "iscsiadm login ($(ls /sys/class/iscsi_session | wc -l) sessions)" "$(since "$t0")"
wait_for 600 '[ "$(ls /sys/block | grep -c ^sd)" -ge $((2 * NLUNS)) ]' && stage "$((2 * NLUNS)) sd disks present (after login)" "$(since "$t0")"
# wait for NLUNS maps with 2 active/ready paths each; give up after 600 s or 180 s without progress
state() { echo "$(nmaps) maps, $(multipathd show paths raw format '%m %t %T' 2>/dev/null | awk '$1 != "[orphan]" && $2 == "active" && $3 == "ready"' | wc -l) active/ready paths"; }
last="" changed=$EPOCHREALTIME maps_t=""
while :; do
  cur=$(state)
  [ "$cur" != "$last" ] && { say "$cur (+$(since "$t0")s)"; last=$cur changed=$EPOCHREALTIME; }
  if [ -z "$maps_t" ] && [ "${cur%% *}" -ge "$NLUNS" ]; then maps_t=$(since "$t0"); stage "$NLUNS maps exist (after login)" "$maps_t"; fi
  [ "$cur" = "$NLUNS maps, $((2 * NLUNS)) active/ready paths" ] && { stage "all maps and paths active/ready (after login)" "$(since "$t0")"; break; }
  awk -v a="$changed" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 180) }' && { say "STALLED for 180 s at: $cur"; break; }
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 600) }' && { say "gave up after 600 s at: $cur"; break; }
  sleep 1
done
check "$NLUNS maps, each with 2 active/ready paths" maps_ready "$NLUNS"
check "exactly $NLUNS maps (no merged LUNs)" bash -c "[ \"\$(dmsetup ls --target multipath | grep -c .)\" = $NLUNS ]"
check "every map has exactly 2 paths" bash -c "multipathd show maps raw format '%n %N' | awk '\$2 != 2 { bad = 1; print } END { exit bad || NR != $NLUNS }'"
multipath -ll > "$OUT/multipath-ll.txt" 2>&1

# bench NAME CMD...: run CMD REPEAT times, print min/median/max wall time in ms
bench() {
  local name=$1 i s; shift
  "$@" > "$OUT/bench-$name.out" 2>&1
  for ((i = 0; i < REPEAT; i++)); do s=$EPOCHREALTIME; "$@" >/dev/null 2>&1; awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'; done |
    sort -n | awk -v n="$name" '{a[NR] = $1 * 1000} END {printf "bench  %-30s min %8.0f  median %8.0f  max %8.0f ms\n", n, a[1], a[int((NR + 1) / 2)], a[NR]}'
}
sysfs_scan() {  # what a monitor reads from sysfs: maps, slaves, sd states, session states
  local d s
  for d in /sys/block/dm-*; do read -r _ < "$d/dm/name"; for s in "$d"/slaves/*; do read -r _ < "$s/device/state"; done; done
  for s in /sys/class/iscsi_session/*; do read -r _ < "$s/state"; done
}
{
  echo "# status commands, $NLUNS maps / $((2 * NLUNS)) paths, $REPEAT runs each (TCG: process start ~60-70 ms)"
  bench multipath-ll multipath -ll
  bench multipathd-show-paths multipathd show paths
  bench multipathd-show-maps multipathd show maps
  bench multipathd-show-maps-json multipathd show maps json
  bench dmsetup-status dmsetup status
  bench dmsetup-table dmsetup table
  bench iscsiadm-session-P3 iscsiadm -m session -P 3
  bench sysfs-scan sysfs_scan
  bench sanpath-plan sanpath plan
} | tee -a "$T"
stage "scenario done (guest uptime)" "$(uptime_s)"
lab_finish
