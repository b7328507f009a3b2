#!/bin/bash
# Tests/Lab/scenarios/volume-cycles.sh (opt-in): randomized attach/detach cycles over 16 LUNs on 2
# targets with faults injected, and an independent audit after every cycle:
#   - a reader on LUN 0 (target 0, whose sessions every even LUN shares) reads all along: 0 I/O
#     errors allowed;
#   - each cycle attaches or detaches a random LUN 1..15; now and then a fault comes first:
#     portal B blackholed during an attach (degraded, exit 3), multipathd killed and restarted,
#     the LUN unmapped on the target before its detach, or a LUN number reused for a new backing
#     file with a new serial (the next attach must return the NEW WWID);
#   - the audit (sysfs, dmsetup, iscsiadm, multipathd; not sanpath): no orphan sd disk (one that is
#     in no map), no map of a detached LUN, every attached LUN's map present with its expected
#     WWID, target 0's sessions never logged out while LUN 0 uses them.
# Figures in $OUT/cycles.txt. CYCLES (default 200) and SEED (default 1) from the environment.
# Run: Tests/Lab/run-suite volume-cycles      (Tests/Lab/run -e CYCLES=40 ... for a shorter run)
# lab-suite: opt-in
# lab-timeout: 3600
set -uo pipefail
source /lab/guest/lib.sh
export LAB_NTARGETS=2
CYCLES=${CYCLES:-200}
RANDOM=${SEED:-1}
lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
check "LIO: 16 EqualLogic LUNs on 2 targets" lab_target_setup equallogic 16 16 || lab_finish
check "sanpath installed" lab_sanpath_install || lab_finish
lab_site equallogic nc
rm -f /etc/multipath.conf
check "sanpath apply" sanpath apply
check "iscsid started" lab_iscsid_start
check "multipathd started" lab_multipathd_start

B=$CFG/core/fileio_0
target_of() { echo "iqn.2001-05.com.equallogic:0-8a0906-lab-t$(($1 % 2))"; }
# the WWID LIO gives a LUN: NAA 6001405 + the serial's hex digits, zero-padded to 25
# (configfs reads the serial back as "T10 VPD Unit Serial Number: <serial>")
expected_wwid() { local s; s=$(sed 's/.*: *//' "$B/equallogic_$1/wwn/vpd_unit_serial" | tr -cd '0-9a-f'); printf '36001405%s' "$(printf '%-25s' "${s:0:25}" | tr ' ' 0)"; }
attach() { sanpath volume attach --quiet --login-timeout 8 --target "$(target_of "$1")" --lun "$1" --portal "iface0:$PORTAL_A" --portal "iface1:$PORTAL_B"; }
declare -A DEVICE

check "attach the reader's LUN 0" bash -c "sanpath volume attach --target $(target_of 0) --lun 0 --portal iface0:$PORTAL_A --portal iface1:$PORTAL_B > $OUT/reader-device"
READER=$(cat "$OUT/reader-device")
( errors=0 reads=0
  while [ ! -e /tmp/stop-reader ]; do
    if dd if="$READER" of=/dev/null bs=64k count=16 iflag=direct status=none 2>>"$OUT/reader.err"; then reads=$((reads + 1)); else errors=$((errors + 1)); fi
    echo "$reads $errors" > /tmp/reader-count
    sleep 0.2
  done ) &
reader=$!

audit() {
  local bad=0 d m w l
  # orphan disks: an sd in no map
  for d in /sys/block/sd*; do
    [ -e "$d" ] || continue
    ls "$d/holders" | grep -q dm- || { echo "orphan disk ${d##*/} ($(cat $d/device/../*/vendor 2>/dev/null))"; bad=1; }
  done
  for l in $(seq 1 15); do
    w=$(expected_wwid "$l")
    m=$(dmsetup info -c --noheadings -o name,uuid 2>/dev/null | awk -F: -v u="mpath-$w" '$2 == u {print $1}')
    if [ -n "${DEVICE[$l]:-}" ]; then
      [ -n "$m" ] || { echo "LUN $l is attached but has no map with its WWID $w"; bad=1; }
    else
      [ -z "$m" ] || { echo "LUN $l is detached but map $m of $w is still there"; bad=1; }
    fi
  done
  [ "$(iscsiadm -m session 2>/dev/null | grep -c 'lab-t0')" -ge 1 ] || { echo "target 0's sessions were logged out while LUN 0 uses them"; bad=1; }
  return $bad
}

attaches=0 detaches=0 degraded=0 stale=0 failures=0 audit_failures=0 faults=""
for ((c = 1; c <= CYCLES; c++)); do
  l=$((RANDOM % 15 + 1)) fault=$((RANDOM % 8))
  if [ -n "${DEVICE[$l]:-}" ]; then
    if [ $fault = 0 ]; then
      # the LUN unmapped on the target before the detach
      rm -f "$CFG/iscsi/$(target_of $l)/tpgt_1/lun/lun_$l/equallogic_$l"; rmdir "$CFG/iscsi/$(target_of $l)/tpgt_1/lun/lun_$l"
      faults+="c$c:unmapped-$l "
    fi
    if sanpath volume detach "${DEVICE[$l]}" > /tmp/detach.out 2>&1; then detaches=$((detaches + 1)); else
      failures=$((failures + 1)); { echo "cycle $c: detach LUN $l failed:"; cat /tmp/detach.out; } >> "$OUT/cycles.log"; fi
    unset "DEVICE[$l]"
    if [ $fault = 0 ]; then
      # put the LUN number back, half of the time on a NEW backing file with a new serial
      if [ $((RANDOM % 2)) = 0 ]; then
        cfgw 0 "$B/equallogic_$l/enable" 2>/dev/null; rmdir "$B/equallogic_$l" 2>/dev/null
        mkdir -p "$B/equallogic_$l"; truncate -s 16M "/var/lib/lab/equallogic_$l.v$c.img"
        cfgw "fd_dev_name=/var/lib/lab/equallogic_$l.v$c.img,fd_dev_size=16777216" "$B/equallogic_$l/control"
        cfgw "$(printf 'ab5ee1%04x%04x' "$l" "$c")" "$B/equallogic_$l/wwn/vpd_unit_serial"
        cfgw EQLOGIC "$B/equallogic_$l/wwn/vendor_id"; cfgw 100E-00 "$B/equallogic_$l/wwn/product_id"
        cfgw 1 "$B/equallogic_$l/enable"; cfgw 0 "$B/equallogic_$l/alua/default_tg_pt_gp/alua_access_type"
        faults+="c$c:reused-$l "
      fi
      mkdir "$CFG/iscsi/$(target_of $l)/tpgt_1/lun/lun_$l" && ln -s "$B/equallogic_$l" "$CFG/iscsi/$(target_of $l)/tpgt_1/lun/lun_$l/equallogic_$l"
    fi
  else
    case $fault in
      1) fail_path tgtdrop $PORTAL_B; faults+="c$c:portalB-down " ;;
      2) pkill -9 -x multipathd; sleep 0.5; lab_multipathd_start >/dev/null; faults+="c$c:multipathd-restart " ;;
    esac
    attach "$l" > /tmp/attach.out 2> /tmp/attach.err; rc=$?
    [ $fault = 1 ] && restore_path tgtdrop $PORTAL_B
    if [ $rc = 0 ] || [ $rc = 3 ]; then
      attaches=$((attaches + 1)); [ $rc = 3 ] && degraded=$((degraded + 1))
      DEVICE[$l]=$(cat /tmp/attach.out)
      want=$(expected_wwid "$l")
      [ "${DEVICE[$l]}" = "/dev/disk/by-id/dm-uuid-mpath-$want" ] || { stale=$((stale + 1)); echo "cycle $c: LUN $l attached as ${DEVICE[$l]}, want $want" >> "$OUT/cycles.log"; }
    else
      failures=$((failures + 1))
      { echo "cycle $c: attach LUN $l exit $rc:"; cat /tmp/attach.err; echo "-- multipath -ll"; multipath -ll 2>&1; echo "-- multipathd log"; tail -n 30 "$LAB_LOG/multipathd.log"; } >> "$OUT/cycles.log"
    fi
  fi
  if ! audit >> "$OUT/audit.log" 2>&1; then audit_failures=$((audit_failures + 1)); echo "cycle $c: audit failed (audit.log)" >> "$OUT/cycles.log"; fi
  [ $((c % 20)) = 0 ] && say "cycle $c/$CYCLES: $attaches attaches ($degraded degraded), $detaches detaches, $failures failures, $audit_failures audit failures"
done
touch /tmp/stop-reader; wait $reader
read -r reads read_errors < /tmp/reader-count
{
  echo "cycles $CYCLES (seed ${SEED:-1}): attaches $attaches (degraded $degraded), detaches $detaches, command failures $failures"
  echo "audit failures $audit_failures, stale WWIDs returned $stale, reader on LUN 0: $reads reads, $read_errors errors"
  echo "faults: $faults"
} | tee "$OUT/cycles.txt"
check "no attach or detach failed" test "$failures" = 0
check "0 audit failures (orphan disks, maps of detached LUNs, sessions logged out under LUN 0)" test "$audit_failures" = 0
check "0 stale WWIDs returned" test "$stale" = 0
check "the reader on LUN 0 saw 0 I/O errors in $reads reads" test "$read_errors" = 0
lab_finish
