#!/bin/bash
# Tests/Lab/scenarios/field-netapp.sh: issue #8's field checks of the NetApp profile, on one guest.
# NLUNS (default 1) NetApp LUNs x 2 paths; the host starts as an Eucalyptus host that sanpath
# has not provisioned yet: a plain /etc/multipath.conf (find_multipaths yes), Debian's stock
# iscsid.conf, the ifaces iface0/iface1 made by the admin, iscsid and multipathd running, logged
# in, the maps formed (named by WWID: the built-in NETAPP entry says user_friendly_names no).
#   c. site role sc, `sanpath apply`: the maps that existed before apply (same dm-N) are
#      eucalyptus:disk 660 afterwards, without a udevadm trigger by the scenario. Then the case
#      where the udev rule is the ONLY change (a host whose old rule never took effect: rule
#      removed, maps back to root:disk): apply does not reconfigure multipathd (no reload
#      uevent), and the maps still become eucalyptus:disk 660 (apply's own trigger).
#   a. SC maps made under the applied profile (log out, records made again the Eucalyptus way,
#      log in): named mpathN, so the profile's device-section user_friendly_names yes beats the
#      built-in NETAPP entry's no; live no_path_retry 12 (SC)
#   b. site role nc, `sanpath apply`: live no_path_retry 16 ("16 chk"), queue_if_no_path in the
#      table while paths exist, iscsid.conf replacement_timeout 5. Then EVERY path cut on the
#      array side (nft drop in netns tgt, links up: the noop-out, replacement_timeout and
#      multipathd's checker and no_path_retry all run as in the field) and a direct 4 KiB read of
#      the map started: it must fail with an I/O error no sooner than no_path_retry x
#      polling_interval (queued first) and within no_path_retry x polling_interval +
#      replacement_timeout + 60 s (TCG margin) of the cut ("all-paths-down I/O error after N s");
#      the map then has no queue_if_no_path; paths restored: map ready, queueing back, reads work.
# Results: checks.txt, observations.txt, timeline.txt, all-paths-down.txt (state every 2 s during
#   the cut), apply-*.txt, plan-*.txt, show-config-*.txt, uevents-apply-*.txt (udevadm monitor
#   during each apply), multipath.conf-*, iscsid.conf-*.
# Run: Tests/Lab/run-suite field-netapp   (env NLUNS=1)
# lab-timeout: 600
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/provision.sh   # check helpers (device_section_live, node_records_ok, map_owner...)

n=${NLUNS:-1}
lab_vendor netapp
T=$OUT/timeline.txt O=$OUT/observations.txt
step() { say "$*"; echo "$(uptime_s) $*" >> "$T"; }
obs() { printf '%s\n' "$*" | tee -a "$O"; }

maps() { dmsetup ls --target multipath 2>/dev/null | awk '$1 != "No" {print $1}' | sort; }
dm_name() { cat "/sys/block/$1/dm/name"; }
dm_node_owner() { stat -c '%U:%G %a' "/dev/$1"; }
# the built-in NETAPP/LUN entry of `multipathd show config` (FILE) sets user_friendly_names no
builtin_netapp_ufn_no() {
  awk '/^\tdevice \{/ { d = 1; b = ""; next } d && /^\t\}/ { if (b ~ /vendor "NETAPP"/ && b ~ /product "LUN/) print b; d = 0; next } d { b = b $0 "\n" }' "$1" |
    tee /dev/stderr | grep -q 'user_friendly_names "*no"*'
}
owner_is_euca() { local s; s=$(dm_node_owner "$1"); echo "/dev/$1 ($(dm_name "$1")): $s"; [ "$s" = "eucalyptus:disk 660" ]; }
owners_are() { local d rc=0 s; for d in $2; do s=$(dm_node_owner "$d"); echo "/dev/$d: $s"; [ "$s" = "$1" ] || rc=1; done; return $rc; }
# uevents_for DM FILE: the uevents of `udevadm monitor --kernel --property` in FILE for /dev/DM,
# one line each: ACTION, and SYNTH_UUID when it was a synthetic one (udevadm trigger)
uevents_for() {
  awk -v d="DEVNAME=/dev/$1" 'BEGIN { RS = ""; FS = "\n" } { mine = 0; a = ""; s = "not synthetic (a kernel dm event: rename, table reload)"
    for (i = 1; i <= NF; i++) { if ($i == d) mine = 1; if ($i ~ /^ACTION=/) a = $i; if ($i ~ /^DM_NAME=/) a = a " " $i
      if ($i ~ /^SYNTH_UUID=/) s = "synthetic (" $i ": udevadm trigger)" }
    if (mine) print "  " a " " s }' "$2"
}
# only_synthetic_dm_uevents FILE: every uevent of a dm device in FILE is a synthetic one
only_synthetic_dm_uevents() {
  awk 'BEGIN { RS = "" } /\nDEVNAME=\/dev\/dm-/ { n++; if (!/\nSYNTH_UUID=/) { print "not synthetic:\n" $0; bad = 1 } } END { print n + 0 " dm uevent(s)"; exit bad }' "$1"
}
# monitored CMD...: run CMD while `udevadm monitor` records block uevents into $UEV
monitored() {
  udevadm monitor --kernel --property --subsystem-match=block > "$UEV" 2>&1 & local um=$!
  sleep 1; "$@"; local rc=$?; udevadm settle --timeout=30; sleep 1; kill "$um" 2>/dev/null; wait "$um" 2>/dev/null
  return $rc
}
sessions_recovery_tmo() { cat /sys/class/iscsi_session/session*/recovery_tmo | sort | uniq -c | awk '{printf "%s session(s) %s s; ", $1, $2}'; }

# ---------------------------------------------------------------------------------------------
step "field-netapp: $n NetApp LUN(s) x 2 paths, a host sanpath has not provisioned yet"
lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
check "LIO target: $n LUNs with the netapp identity (ALUA: portal A optimized, B non-optimized)" lab_target_setup netapp "$n" 16 || lab_finish
rm -f /etc/udev/rules.d/57-dm-permissions.rules /etc/udev/rules.d/12-dm-permissions.rules
rm -rf "$ISCSI_DB/ifaces/iface0" "$ISCSI_DB/ifaces/iface1"
cat > /etc/multipath.conf <<'EOF'
# /etc/multipath.conf of this host before sanpath: a map for every LUN seen through two paths
defaults {
	find_multipaths yes
}
EOF
cp /etc/multipath.conf "$OUT/multipath.conf-before"
check "Debian's stock iscsid.conf is in place" test -s /etc/iscsi/iscsid.conf && cp /etc/iscsi/iscsid.conf "$OUT/iscsid.conf-before"
admin_ifaces() {
  iscsiadm -m iface -I iface0 -o new && iscsiadm -m iface -I iface0 -o update -n iface.net_ifacename -v ini0 &&
    iscsiadm -m iface -I iface1 -o new && iscsiadm -m iface -I iface1 -o update -n iface.net_ifacename -v ini1
}
check "the admin's ifaces iface0 -> ini0, iface1 -> ini1" admin_ifaces
check "sanpath installed in the guest" lab_sanpath_install || lab_finish
check "iscsid started (stock iscsid.conf)" lab_iscsid_start || lab_finish
check "multipathd started (plain multipath.conf)" lab_multipathd_start || lab_finish
multipathd show config > "$OUT/show-config-before.txt" 2>&1
check "precondition: multipath-tools' built-in NETAPP/LUN entry sets user_friendly_names no" builtin_netapp_ufn_no "$OUT/show-config-before.txt"
nodes_and_login() { lab_nodes_new netapp && lab_login netapp; }
check "node records and login through both paths (before any apply)" nodes_and_login
t0=$(now)
wait_for 120 "maps_ready $n"
step "before apply: maps $(maps | tr '\n' ' ')after $(since "$t0") s"
check "before apply: $n maps, each with 2 active/ready paths" maps_ready "$n" || lab_finish
pre_dms=$(for m in $(maps); do basename "$(readlink -f "/dev/mapper/$m")"; done)
obs "# field-netapp: what the lab saw ($(date -u +%FT%TZ), multipath-tools $(dpkg-query -W -f '${Version}' multipath-tools), open-iscsi $(dpkg-query -W -f '${Version}' open-iscsi), kernel $(uname -r))"
obs "## before apply (plain multipath.conf, stock iscsid.conf)"
for d in $pre_dms; do obs "$d: name $(dm_name "$d"), owner $(dm_node_owner "$d")"; done
check "before apply: the maps are named by WWID, not mpathN (user_friendly_names no)" bash -c "echo '$(maps)'; ! grep -q '^mpath' <<< '$(maps)'"
check "before apply: the maps are root:disk 660 (no rule gives them to eucalyptus yet)" owners_are "root:disk 660" "$pre_dms"

# ---- c. the owner of maps that exist before apply
lab_site netapp sc
cp /etc/sanpath/site.toml "$OUT/site-sc.toml"
expect_rc 2 plan-sc.txt "c. sanpath plan (netapp sc) on the host: changes pending" sanpath plan
UEV=$OUT/uevents-apply-sc.txt
step "c. sanpath apply (netapp sc) with the maps formed and multipathd running"
expect_rc 0 apply-sc.txt "c. sanpath apply (netapp sc)" monitored sanpath apply
cp /etc/multipath.conf "$OUT/multipath.conf-sc"; cp /etc/iscsi/iscsid.conf "$OUT/iscsid.conf-sc"
check "c. apply reconfigured multipathd" grep -q 'multipathd reconfigure: ok' "$OUT/apply-sc.txt"
check "c. apply replayed the udev rules for the existing map(s)" grep -q "udev rules replayed for $n multipath map" "$OUT/apply-sc.txt"
for d in $pre_dms; do
  check "c. $d still exists (the map formed before apply was kept, not remade)" test -e "/sys/block/$d/dm/name"
  check "c. $d (formed before apply) is eucalyptus:disk 660 after apply, no udevadm trigger by hand" owner_is_euca "$d"
done
obs "## after apply (sc)"
for d in $pre_dms; do obs "$d: name $(dm_name "$d"), owner $(dm_node_owner "$d"); its uevents during apply:"; obs "$(uevents_for "$d" "$UEV")"; done
wait_for 30 "maps_ready $n"
# multipathd reloads a map whose path prios change (ALUA regrouping): let that settle first, so
# that only apply's trigger can send the map a uevent below
wait_for 60 'maps_groups_settled || { sleep 2; false; }'

step "c. the udev rule as the only change: rule removed, maps back to root:disk 660"
rm -f /etc/udev/rules.d/57-dm-permissions.rules; udevadm control --reload
for d in $pre_dms; do chown root:disk "/dev/$d"; chmod 660 "/dev/$d"; done
check "c. precondition: rule gone, maps root:disk 660" owners_are "root:disk 660" "$pre_dms"
expect_rc 2 plan-rule-only.txt "c. sanpath plan: the udev rule is pending" sanpath plan
UEV=$OUT/uevents-apply-rule-only.txt
expect_rc 0 apply-rule-only.txt "c. sanpath apply with only the udev rule to write" monitored sanpath apply
check "c. apply did not reconfigure multipathd (multipath.conf unchanged: no table reload, no rename uevent)" bash -c "! grep -q 'multipathd reconfigure' '$OUT/apply-rule-only.txt'"
check "c. the maps got no uevent but apply's synthetic ones (udevadm trigger)" only_synthetic_dm_uevents "$UEV"
for d in $pre_dms; do
  check "c. $d is eucalyptus:disk 660 again: apply's trigger reached the existing map" owner_is_euca "$d"
done
obs "## apply with only the rule to write"
for d in $pre_dms; do obs "$d: name $(dm_name "$d"), owner $(dm_node_owner "$d"); its uevents during apply:"; obs "$(uevents_for "$d" "$UEV")"; done

# the records made before apply (Eucalyptus' `-o new`: open-iscsi 2.1 keeps them as plain files
# IP,PORT holding iface.iscsi_ifacename) still have the stock replacement_timeout
check "c. node records made before apply keep the stock replacement_timeout (120)" \
  bash -c "iscsiadm -m node -T '$(lab_iqns netapp)' -p $PORTAL_A:3260 -I iface0 | grep -x 'node.session.timeo.replacement_timeout = 120'"
# open-iscsi 2.1.8 keeps a record made by `-o new` as a plain file nodes/IQN/IP,PORT (no portal
# directory with one file per iface): the planner reads its iface.iscsi_ifacename
check "c. sanpath apply --update-node-records exits 0 [apply-update-node-records.txt]" \
  bash -c "sanpath apply --update-node-records > '$OUT/apply-update-node-records.txt' 2>&1; rc=\$?; tail -3 '$OUT/apply-update-node-records.txt'; exit \$rc"
check "c. after --update-node-records the records made before apply have the profile's replacement_timeout and keep their iface's NIC" node_records_ok netapp

# ---- a. SC maps made under the applied profile
step "a. log out, remake the node records the Eucalyptus way, log in again (SC profile live)"
iscsiadm -m node --logoutall=all > "$OUT/logout-sc.txt" 2>&1
wait_for 60 '[ "$(nmaps)" = 0 ]' || { multipath -F >> "$OUT/logout-sc.txt" 2>&1; }
check "a. no map left after logout" bash -c '[ "$(dmsetup ls --target multipath | grep -vc "^No devices")" = 0 ]'
iscsiadm -m node -o delete >> "$OUT/logout-sc.txt" 2>&1
check "a. node records made again per path and iface" lab_nodes_new netapp
check "a. node records inherit the applied iscsid.conf (replacement_timeout) and the iface's NIC" node_records_ok netapp
t0=$(now)
check "a. login through both paths" lab_login netapp
wait_for 120 "maps_ready $n"
step "a. SC maps $(maps | tr '\n' ' ')after $(since "$t0") s"
check "a. SC: $n maps, each with 2 active/ready paths" maps_ready "$n"
multipathd show config > "$OUT/show-config-sc.txt" 2>&1
check "a. SC: multipathd show config has the profile's NETAPP section (every key of multipath.conf's)" \
  device_section_live NETAPP /etc/multipath.conf "$OUT/show-config-sc.txt"
check "a. SC: the profile's NETAPP section sets user_friendly_names yes and no skip_kpartx (NC only)" \
  bash -c "grep -qE '^[[:space:]]*user_friendly_names yes' /etc/multipath.conf && ! grep -qE '^[[:space:]]*skip_kpartx' /etc/multipath.conf"
obs "## SC maps made after apply"
for m in $(maps); do
  check "a. SC: $m is named mpathN (the device section's user_friendly_names yes beats the built-in NETAPP no)" bash -c "[[ $m =~ ^mpath[a-z]+$ ]]"
  check "a. SC: $m has no_path_retry 12 in multipathd (show maps %Q: $(map_npr "$m"))" bash -c "[ '$(map_npr "$m")' = '12 chk' ]"
  check "a. SC: $m is eucalyptus:disk 660" map_owner "$m"
  obs "$m: $(basename "$(readlink -f "/dev/mapper/$m")"), no_path_retry $(map_npr "$m"), table: $(dmsetup table "$m")"
done
multipath -v3 -ll 2>&1 | grep -E ': (user_friendly_names|no_path_retry|skip_kpartx|alias) = ' | sort -u | tee -a "$O"

# ---- b. NC: every path cut
lab_site netapp nc
cp /etc/sanpath/site.toml "$OUT/site-nc.toml"
step "b. role nc: sanpath apply"
expect_rc 0 apply-nc.txt "b. sanpath apply (netapp nc)" sanpath apply
cp /etc/multipath.conf "$OUT/multipath.conf-nc"; cp /etc/iscsi/iscsid.conf "$OUT/iscsid.conf-nc"
check "b. apply reconfigured multipathd" grep -q 'multipathd reconfigure: ok' "$OUT/apply-nc.txt"
multipathd show config > "$OUT/show-config-nc.txt" 2>&1
check "b. NC: multipathd show config has the profile's NETAPP section (every key of multipath.conf's)" \
  device_section_live NETAPP /etc/multipath.conf "$OUT/show-config-nc.txt"
check "b. NC: the NETAPP section sets no_path_retry 16, user_friendly_names yes, skip_kpartx yes" \
  bash -c "for k in 'no_path_retry 16' 'user_friendly_names yes' 'skip_kpartx yes'; do grep -qE \"^[[:space:]]*\$k\\\$\" /etc/multipath.conf || { echo \"missing: \$k\"; exit 1; }; done"
check "b. NC: iscsid.conf replacement_timeout 5" grep -qx 'node.session.timeo.replacement_timeout = 5' /etc/iscsi/iscsid.conf
map=$(maps | head -1)
wait_for 30 '[ "$(map_npr "$map")" = "16 chk" ]'
check "b. NC: $map has no_path_retry 16 in multipathd after the reconfigure (show maps %Q: $(map_npr "$map"))" bash -c "[ '$(map_npr "$map")' = '16 chk' ]"
check "b. NC: with its paths up, $map queues (queue_if_no_path in the dm table; finite no_path_retry counts down only once no path is left)" \
  bash -c "dmsetup table '$map' | tee /dev/stderr | grep -q queue_if_no_path"
check "b. the sessions' recovery_tmo is 5 (multipathd's fast_io_fail_tmo 5 = replacement_timeout)" \
  bash -c "cat /sys/class/iscsi_session/session*/recovery_tmo | sort -u | tee /dev/stderr | grep -qx 5 && [ \"\$(cat /sys/class/iscsi_session/session*/recovery_tmo | sort -u | wc -l)\" = 1 ]"
check "b. a direct read of $map works with both paths up" dd if="/dev/mapper/$map" of=/dev/null bs=4k count=1 iflag=direct
npr=$(map_npr "$map" | awk '{print $1}')
pi=$(awk '$1 == "polling_interval" {print $2; exit}' "$OUT/show-config-nc.txt")
rt=$(awk -F' *= *' '$1 == "node.session.timeo.replacement_timeout" {print $2}' /etc/iscsi/iscsid.conf)
queued=$((${npr:-16} * ${pi:-5})) bound=$((${npr:-16} * ${pi:-5} + ${rt:-5} + 60))
obs "## all paths down (NC): no_path_retry $npr x polling_interval $pi = $queued s of queueing; replacement_timeout $rt; bound $bound s; recovery_tmo: $(sessions_recovery_tmo)"

D=$OUT/all-paths-down.txt
state_line() {
  printf '%6.1f s  sessions: %s| disks: %s| dm: %s| npr: %s\n' "$(awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" \
    "$(lab_sessions | awk '{printf "%s ", $7}')" \
    "$(for s in /sys/block/sd*; do printf '%s=%s ' "${s##*/}" "$(cat "$s/device/state")"; done)" \
    "$(dmsetup status "$map" | cut -d' ' -f4-)" "$(map_npr "$map")"
}
step "b. cutting BOTH paths on the array side (nft drop in netns tgt), then a direct read of $map"
rm -f /tmp/dd-done
fail_path tgtdrop $PORTAL_A && fail_path tgtdrop $PORTAL_B
t_cut=$(now)
( dd if="/dev/mapper/$map" of=/dev/null bs=4k count=1 iflag=direct > "$OUT/dd-all-paths-down.txt" 2>&1
  echo "$? $EPOCHREALTIME" > /tmp/dd-done ) &
limit=$((bound + 60))
until [ -s /tmp/dd-done ]; do
  state_line "$t_cut" >> "$D"
  awk -v a="$t_cut" -v b="$EPOCHREALTIME" -v t="$limit" 'BEGIN { exit !(b - a > t) }' && break
  sleep 2
done
state_line "$t_cut" >> "$D"
if [ -s /tmp/dd-done ]; then
  read -r dd_rc t_end < /tmp/dd-done
  took=$(awk -v a="$t_cut" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')
  obs "all-paths-down I/O error after $took s (dd exit $dd_rc: $(tr '\n' ' ' < "$OUT/dd-all-paths-down.txt" | cut -c1-120))"
  step "all-paths-down I/O error after $took s (dd exit $dd_rc)"
  check "b. all-paths-down I/O error after $took s: the read failed (dd exit $dd_rc, Input/output error)" \
    bash -c "[ '$dd_rc' != 0 ] && grep -q 'Input/output error' '$OUT/dd-all-paths-down.txt'"
  check "b. all-paths-down I/O error after $took s: within $bound s of the cut (no_path_retry $npr x polling_interval $pi + replacement_timeout $rt + 60 s TCG margin)" \
    awk "BEGIN { exit !($took <= $bound) }"
  check "b. all-paths-down I/O error after $took s: queued first, not failed at once (>= no_path_retry x polling_interval = $queued s)" \
    awk "BEGIN { exit !($took >= $queued) }"
else
  obs "all-paths-down I/O still blocked after $limit s (no error)"
  _record 1 "b. all-paths-down I/O: the read still hangs $limit s after the cut (want an I/O error within $bound s)" "$(tail -5 "$D")"
fi
dmsetup table "$map" > "$OUT/dmsetup-table-all-paths-down.txt"; dmsetup status "$map" > "$OUT/dmsetup-status-all-paths-down.txt"
# (dmsetup status never names the feature: its feature fields are queue_io and pg_init_count)
check "b. after the error $map no longer queues: no queue_if_no_path in the dm table" \
  bash -c "cat '$OUT/dmsetup-table-all-paths-down.txt'; ! grep -q queue_if_no_path '$OUT/dmsetup-table-all-paths-down.txt'"
check "b. multipathd shows queueing off for $map (%Q: $(map_npr "$map"))" bash -c "[ '$(map_npr "$map")' = off ]"
obs "dm table with every path down: $(cat "$OUT/dmsetup-table-all-paths-down.txt")"
obs "dm status with every path down: $(cat "$OUT/dmsetup-status-all-paths-down.txt")"

step "b. restoring both paths"
restore_path tgtdrop $PORTAL_A; restore_path tgtdrop $PORTAL_B
t0=$(now)
wait_for 180 "maps_ready $n"
step "b. paths back after $(since "$t0") s"
check "b. paths restored: $n maps with 2 active/ready paths again ($(since "$t0") s after the restore)" maps_ready "$n"
wait_for 30 '[ "$(map_npr "$map")" = "16 chk" ] && dmsetup table "$map" | grep -q queue_if_no_path'
check "b. queueing is back with the paths: queue_if_no_path in the table, %Q $(map_npr "$map")" \
  bash -c "dmsetup table '$map' | tee /dev/stderr | grep -q queue_if_no_path && [ '$(map_npr "$map")' = '16 chk' ]"
check "b. a direct read of $map works again" dd if="/dev/mapper/$map" of=/dev/null bs=4k count=1 iflag=direct
wait
obs "## state every 2 s from the cut (all-paths-down.txt)"; cat "$D" >> "$O"
{ echo "## multipath -ll"; multipath -ll; echo "## multipathd show paths"; multipathd show paths format "%d %m %t %T %o %p %g"; } >> "$O" 2>&1
lab_finish
