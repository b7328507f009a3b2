#!/bin/bash
# Tests/Lab/scenarios/volumes.sh: sanpath volume attach / detach / list on a provisioned Eucalyptus
# NC (equallogic profile, one LIO target with 3 LUNs, portals A and B), as the NC's half of
# ExportVolume / UnexportVolume:
#   - attach LUN 0 over both paths (fresh logins, in parallel) prints the multipath device; a
#     pattern written through it reads back;
#   - attach LUN 1 on the same target reuses the sessions;
#   - detach of an open map is refused, naming the holder, fast;
#   - detach of LUN 0 leaves no disk, no map, no multipathd path for its WWID while LUN 1 stays
#     attached and both sessions stay logged in; the detach of LUN 1 logs them out and deletes
#     the node records;
#   - with portal B blackholed, attach of LUN 2 is degraded (exit 3) within the login timeout
#     plus a margin, then detaches clean;
#   - figures: sanpath attach beside the bare `iscsiadm -m node -l` on both paths + `udevadm
#     settle` until the map has both paths, for the same LUN in the same guest (timings.txt).
# Run: Tests/Lab/run-suite volumes
# lab-timeout: 480
set -uo pipefail
source /lab/guest/lib.sh

IQN=iqn.2001-05.com.equallogic:0-8a0906-lab-t0
lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
check "LIO target: 3 EqualLogic LUNs" lab_target_setup equallogic 3 || lab_finish
check "sanpath installed in the guest" lab_sanpath_install || lab_finish
lab_site equallogic nc
rm -f /etc/multipath.conf
check "sanpath apply provisions the NC" sanpath apply
check "iscsid started" lab_iscsid_start
check "multipathd started" lab_multipathd_start
: > "$OUT/timings.txt"

# attach VOL_LUN [extra args]: sanpath volume attach over both paths; output in $OUT/attach-LUN.txt
attach() {
  local lun=$1; shift
  sanpath volume attach --target "$IQN" --lun "$lun" --portal "iface0:$PORTAL_A" --portal "iface1:$PORTAL_B" "$@"
}
map_of() { basename "$(readlink -f "$1")"; }                   # /dev/disk/by-id/... -> dm-N
paths_of() { ls "/sys/block/$1/slaves" 2>/dev/null | wc -l; }
wwid_of() { cat "/sys/block/$1/dm/uuid" 2>/dev/null | sed 's/^mpath-//'; }
logged_in() { lab_sessions | grep -c LOGGED_IN; }
# nothing_left WWID: the independent audit: no disk with that WWID (udev), no map, no multipathd path
nothing_left() {
  local d bad=0
  for d in /sys/block/sd*; do
    [ -e "$d" ] || continue
    udevadm info --query=property --name="${d##*/}" 2>/dev/null | grep -qx "ID_SERIAL=$1" && { echo "disk ${d##*/} has $1"; bad=1; }
  done
  dmsetup info -c --noheadings -o uuid 2>/dev/null | grep -qx "mpath-$1" && { echo "map mpath-$1 is still there"; bad=1; }
  multipathd show paths raw format '%w %d' 2>/dev/null | grep -q "^$1 " && { echo "multipathd still has a path of $1"; bad=1; }
  return $bad
}
timed() { local t0=$EPOCHREALTIME; "$@"; local rc=$?; echo "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')" > "$OUT/last-ms"; return $rc; }

# --- a: first volume, fresh logins on both paths
timed attach 0 > "$OUT/attach-0.txt" 2> "$OUT/attach-0.err"; rc=$?
echo "sanpath attach LUN 0 (2 new logins): $(cat "$OUT/last-ms") ms, exit $rc" | tee -a "$OUT/timings.txt"
check "attach LUN 0 over both paths: exit 0 [attach-0.err]" bash -c "cat '$OUT/attach-0.err'; test $rc = 0"
DEV0=$(cat "$OUT/attach-0.txt")
check "attach printed /dev/disk/by-id/dm-uuid-mpath-<wwid>, and it exists" bash -c "[[ '$DEV0' == /dev/disk/by-id/dm-uuid-mpath-* ]] && [ -b '$DEV0' ]"
DM0=$(map_of "$DEV0"); WWID0=$(wwid_of "$DM0")
check "LUN 0's map $DM0 has 2 paths" test "$(paths_of "$DM0")" = 2
check "node records were made with node.startup = manual and node.session.scan = manual" bash -c \
  "iscsiadm -m node -T $IQN -p $PORTAL_A:3260 -I iface0 | grep -qx 'node.startup = manual' && iscsiadm -m node -T $IQN -p $PORTAL_A:3260 -I iface0 | grep -qx 'node.session.scan = manual'"
check "only LUN 0 was scanned: 2 disks on the host (LUNs 1 and 2 are not there)" test "$(ls -d /sys/block/sd* | wc -l)" = 2
head -c 1048576 /dev/urandom > /tmp/pattern
check "a pattern written through $DEV0 reads back (O_DIRECT)" bash -c \
  "dd if=/tmp/pattern of='$DEV0' bs=64k oflag=direct status=none && cmp <(dd if='$DEV0' bs=64k count=16 iflag=direct status=none) /tmp/pattern"

# --- b: second volume on the same target: the sessions are reused
timed attach 1 > "$OUT/attach-1.txt" 2> "$OUT/attach-1.err"; rc=$?
echo "sanpath attach LUN 1 (sessions exist): $(cat "$OUT/last-ms") ms, exit $rc" | tee -a "$OUT/timings.txt"
check "attach LUN 1 on the same sessions: exit 0 [attach-1.err]" bash -c "cat '$OUT/attach-1.err'; test $rc = 0"
DEV1=$(cat "$OUT/attach-1.txt"); DM1=$(map_of "$DEV1"); WWID1=$(wwid_of "$DM1")
check "still 2 sessions (no second login)" test "$(logged_in)" = 2
check "LUN 1's map $DM1 has 2 paths, its own WWID" bash -c "[ $(paths_of "$DM1") = 2 ] && [ '$WWID1' != '$WWID0' ]"
sanpath volume list > "$OUT/list.txt" 2>&1
check "volume list shows both volumes with 2/2 paths up [list.txt]" bash -c "grep -c '2/2 paths up' '$OUT/list.txt' | grep -qx 2"

# --- c: an open map is refused, naming the holder
sleep 300 < "$DEV0" & holder=$!
sleep 0.5
timed sanpath volume detach "$DEV0" > "$OUT/detach-open.txt" 2>&1; rc=$?
echo "refusal of an open map: $(cat "$OUT/last-ms") ms, exit $rc" | tee -a "$OUT/timings.txt"
timed sanpath --version > /dev/null 2>&1
echo "  (the process start alone, sanpath --version: $(cat "$OUT/last-ms") ms)" | tee -a "$OUT/timings.txt"
check "detach of an open map is refused (exit 1) naming the holder process [detach-open.txt]" bash -c \
  "[ $rc = 1 ] && grep -q 'refusing to detach' '$OUT/detach-open.txt' && grep -q 'sleep (pid $holder)' '$OUT/detach-open.txt'"
check "the refused map is untouched (2 paths)" test "$(paths_of "$DM0")" = 2
kill $holder; wait $holder 2>/dev/null

# --- d: detach LUN 0 while LUN 1 stays
timed sanpath volume detach "$DEV0" > "$OUT/detach-0.txt" 2>&1; rc=$?
echo "detach of an idle map (LUN 0): $(cat "$OUT/last-ms") ms, exit $rc" | tee -a "$OUT/timings.txt"
check "detach LUN 0: exit 0 [detach-0.txt]" test "$rc" = 0
check "audit: nothing left for LUN 0's WWID (disks, map, multipathd)" nothing_left "$WWID0"
check "LUN 1 is still attached with 2 paths and both sessions are logged in" bash -c "[ $(paths_of "$DM1") = 2 ] && [ $(logged_in) = 2 ]"
check "detach kept the sessions because LUN 1 uses them" grep -q 'kept (another LUN uses it)' "$OUT/detach-0.txt"
check "LUN 1 reads (O_DIRECT)" dd if="$DEV1" of=/dev/null bs=64k count=16 iflag=direct status=none

# --- e: the last volume's detach logs out
sanpath volume detach "$WWID1" > "$OUT/detach-1.txt" 2>&1; rc=$?
check "detach LUN 1 by WWID: exit 0 [detach-1.txt]" test "$rc" = 0
check "audit: nothing left for LUN 1's WWID" nothing_left "$WWID1"
check "the last detach logged both sessions out" test "$(logged_in)" = 0
check "and deleted their node records" bash -c "! iscsiadm -m node -T $IQN -p $PORTAL_A:3260 -I iface0 >/dev/null 2>&1"

# --- f: the bare sequence for the same LUN, for the figure
lab_nodes_new equallogic >/dev/null 2>&1
t0=$EPOCHREALTIME
iscsiadm -m node -T $IQN -p $PORTAL_A:3260 -I iface0 --login >/dev/null 2>&1 &
iscsiadm -m node -T $IQN -p $PORTAL_B:3260 -I iface1 --login >/dev/null 2>&1
wait
udevadm settle --timeout=60
wait_for 60 "[ -e /dev/disk/by-id/dm-uuid-mpath-$WWID0 ] && [ \$(ls /sys/block/\$(basename \$(readlink -f /dev/disk/by-id/dm-uuid-mpath-$WWID0))/slaves | wc -l) = 2 ]"
echo "bare iscsiadm -m node -l (2 paths, in parallel) + udevadm settle until LUN 0's map has 2 paths: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms" | tee -a "$OUT/timings.txt"
for dev in /dev/disk/by-id/dm-uuid-mpath-*; do sanpath volume detach "$dev" >> "$OUT/detach-bare.txt" 2>&1; done
check "the bare run's 3 maps detach with sanpath, the last logging out" bash -c "[ $(nmaps) = 0 ] && [ $(logged_in) = 0 ]"

# --- g: portal B blackholed: degraded attach, bounded
fail_path tgtdrop $PORTAL_B
timed attach 2 --login-timeout 8 > "$OUT/attach-2.txt" 2> "$OUT/attach-2.err"; rc=$?
ms=$(cat "$OUT/last-ms")
echo "degraded attach of LUN 2 (portal B blackholed, --login-timeout 8): $ms ms, exit $rc" | tee -a "$OUT/timings.txt"
check "attach with portal B unreachable: exit 3, degraded, saying why [attach-2.err]" bash -c "[ $rc = 3 ] && grep -q 'degraded: path iface1 .* is down: login failed: .*reported error' '$OUT/attach-2.err'"
check "degraded attach returned within the login timeout + 2 s (+8 s for TCG): $ms ms" test "$ms" -le 18000
DEV2=$(cat "$OUT/attach-2.txt")
check "LUN 2's map has 1 path and reads" bash -c "[ -b '$DEV2' ] && [ $(paths_of "$(map_of "$DEV2")") = 1 ] && dd if='$DEV2' of=/dev/null bs=64k count=4 iflag=direct status=none"
restore_path tgtdrop $PORTAL_B
WWID2=$(wwid_of "$(map_of "$DEV2")")
check "detach LUN 2: exit 0, nothing left, logged out" bash -c \
  "sanpath volume detach '$DEV2' > '$OUT/detach-2.txt' 2>&1 && [ \$(dmsetup ls --target multipath | grep -c mpath) = 0 ]"
check "audit: nothing left for LUN 2's WWID, no session, no node record (not even portal B's, whose login failed)" bash -c "$(declare -f nothing_left); nothing_left '$WWID2' && [ \$(iscsiadm -m session 2>/dev/null | grep -c .) = 0 ] && [ -z \"\$(find '$ISCSI_DB/nodes' -type f 2>/dev/null)\" ] || { ls -R '$ISCSI_DB/nodes'; false; }"

cat "$OUT/timings.txt"
lab_finish
