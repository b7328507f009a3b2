#!/bin/bash
# Tests/Lab/guest/capture.sh: payload of Tests/Lab/capture-fixtures (runs INSIDE the guest; not a
# suite scenario). Builds a 2-path topology on a host provisioned by sanpath: NETAPP_LUNS (2)
# NetApp LUNs with ALUA (two path groups) and EQL_LUNS (1) EqualLogic LUN (one multibus group),
# site applied for equallogic and then for netapp, so multipath.conf holds both device
# sections. Then records the state views for three states into $OUT/fixtures/STATE/:
#   healthy   all paths up
#   degraded  path A (192.0.2.2) cut with an nftables drop, waited until dm shows F for it
#   dead      both paths cut, waited until every path is F in dm
# plus the udev events (block subsystem) seen while path A is cut (until every map reported
# PATH_FAILED) and restored (until every map reported PATH_REINSTATED):
# $OUT/fixtures/udev-path-cut-restore.txt, and topology.txt. Exit 0 when all states were reached.
# Run: Tests/Lab/capture-fixtures  (boots the guest with this payload and copies the result)
set -uo pipefail
source /lab/guest/lib.sh
NETAPP_LUNS=${NETAPP_LUNS:-2} EQL_LUNS=${EQL_LUNS:-1}
N=$((NETAPP_LUNS + EQL_LUNS))
F=$OUT/fixtures
rm -rf "$F"; mkdir -p "$F"
die() { say "capture FAILED: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# sysfs mirror: attribute contents as file contents, symlinks kept as the same relative symlinks
SYSDEST=""
# _sys_walk PATH: mirror every symlink met on the way from /sys to PATH; print the real path
_sys_walk() {
  local cur=/sys comp link IFS=/
  for comp in ${1#/sys/}; do
    cur=$cur/$comp
    if [ -L "$cur" ]; then
      link=$(readlink "$cur")
      mkdir -p "$SYSDEST$(dirname "${cur#/sys}")"
      [ -L "$SYSDEST${cur#/sys}" ] || ln -s "$link" "$SYSDEST${cur#/sys}"
      cur=$(readlink -f "$cur")
    fi
  done
  echo "$cur"
}
# cap_attr PATH: copy one attribute (skipped when the kernel refuses to read it, e.g. carrier of
# a down link)
cap_attr() {
  local r; r=$(_sys_walk "$1")
  [ -f "$r" ] || return 0
  mkdir -p "$SYSDEST$(dirname "${r#/sys}")"
  cat "$r" > "$SYSDEST${r#/sys}" 2>/dev/null || rm -f "$SYSDEST${r#/sys}"
}
# cap_links DIR: a directory of symlinks (slaves/, holders/), each kept as a symlink
cap_links() {
  local r e; r=$(_sys_walk "$1")
  [ -d "$r" ] || return 0
  mkdir -p "$SYSDEST${r#/sys}"
  for e in "$r"/*; do [ -L "$e" ] && ln -sfn "$(readlink "$e")" "$SYSDEST${e#/sys}"; done
}
cap_sysfs() {
  SYSDEST=$1/sys; mkdir -p "$SYSDEST"
  local b a d s c h n
  for b in /sys/block/sd* /sys/block/dm-*; do
    [ -e "$b" ] || continue
    for a in dev size; do cap_attr "$b/$a"; done
    case ${b##*/} in
      sd*) for a in device/state device/vendor device/model; do cap_attr "$b/$a"; done ;;
      dm-*) for a in dm/name dm/uuid; do cap_attr "$b/$a"; done ;;
    esac
    cap_links "$b/slaves"; cap_links "$b/holders"
  done
  for d in /sys/class/scsi_device/*; do cap_attr "$d/device/state"; done
  for s in /sys/class/iscsi_session/session*; do
    for a in targetname state recovery_tmo ifacename; do cap_attr "$s/$a"; done
    _sys_walk "$s/device" >/dev/null
  done
  for c in /sys/class/iscsi_connection/connection*; do
    for a in persistent_address persistent_port address port; do cap_attr "$c/$a"; done
  done
  for h in /sys/class/iscsi_host/host*; do
    for a in netdev ipaddress hwaddress initiatorname; do cap_attr "$h/$a"; done
  done
  for n in /sys/class/net/*; do
    for a in operstate carrier ifindex; do cap_attr "$n/$a"; done
  done
}
# capture STATE: every command view plus the sysfs mirror and the iface files
capture() {
  local d=$F/$1
  mkdir -p "$d$ISCSI_DB/ifaces"
  say "capturing state '$1'"
  dmsetup status > "$d/dmsetup-status.txt" 2>&1
  dmsetup table > "$d/dmsetup-table.txt" 2>&1
  dmsetup ls --target multipath > "$d/dmsetup-ls-target-multipath.txt" 2>&1
  multipathd show maps json > "$d/multipathd-show-maps.json" 2>&1
  multipathd show paths raw format "%m|%d|%D|%t|%o|%T" > "$d/multipathd-show-paths.txt" 2>&1  # what the daemon asks
  multipathd show paths raw format "%d %t %T %o %m" > "$d/multipathd-show-paths-raw.txt" 2>&1
  multipath -ll > "$d/multipath-ll.txt" 2>&1
  iscsiadm -m session -P 3 > "$d/iscsiadm-session-P3.txt" 2>&1
  iscsiadm -m session > "$d/iscsiadm-session.txt" 2>&1
  iscsiadm -m iface > "$d/iscsiadm-iface.txt" 2>&1
  # the iface files where this guest's open-iscsi keeps them (etc/iscsi or var/lib/iscsi under the state)
  cp "$ISCSI_DB/ifaces/iface0" "$ISCSI_DB/ifaces/iface1" "$d$ISCSI_DB/ifaces/"
  cap_sysfs "$d"
}
# dm_path_states: "MAJ:MIN STATE" for every path of every multipath map (dmsetup status)
dm_path_states() {
  dmsetup status --target multipath 2>/dev/null |
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+:[0-9]+$/ && $(i + 1) ~ /^[AF]$/) print $i, $(i + 1) }'
}
# portal_devs PORTAL: MAJ:MIN of the sd disks behind PORTAL
portal_devs() { local d; for d in $(portal_disks "$1"); do cat "/sys/block/$d/dev"; done; }
# all_in_state STATE DEV...: dm shows every DEV in STATE (A or F)
all_in_state() {
  local want=$1 s; shift
  s=$(dm_path_states)
  for d in "$@"; do grep -qx "$d $want" <<< "$s" || return 1; done
}
# monitor_start FILE / monitor_stop: udev monitor (kernel + udev events, properties, block) into FILE
monitor_start() { stdbuf -oL udevadm monitor --kernel --udev --property --subsystem-match=block > "$1" 2>&1 & MON=$!; sleep 1; }
# udev_maps FILE ACTION: how many maps udev (not only the kernel) reported DM_ACTION=ACTION for
udev_maps() {
  awk -v act="DM_ACTION=$2" '
    /^(KERNEL|UDEV) *\[/ { src = $1; name = ""; hit = 0 }
    $0 == act { hit = 1 }
    /^DM_NAME=/ { name = substr($0, 9) }
    /^$/ { if (src ~ /^UDEV/ && hit && name != "") seen[name] = 1; hit = 0 }
    END { if (src ~ /^UDEV/ && hit && name != "") seen[name] = 1; n = 0; for (k in seen) n++; print n }' "$1"
}
monitor_stop() { sleep 1; kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
say "capture: $NETAPP_LUNS NetApp (ALUA) + $EQL_LUNS EqualLogic LUNs over 2 paths"
lab_net_setup || die "network"
lab_target_setup netapp "$NETAPP_LUNS" 16 || die "netapp LUNs"
lab_target_setup equallogic "$EQL_LUNS" 16 || die "equallogic LUNs"
rm -f /etc/multipath.conf /etc/iscsi/iscsid.conf
lab_sanpath_install || die "sanpath"
lab_site equallogic nc
sanpath apply --no-reload > "$OUT/apply-equallogic.txt" 2>&1 || die "sanpath apply (equallogic)"
lab_site netapp nc
sanpath apply --no-reload > "$OUT/apply-netapp.txt" 2>&1 || die "sanpath apply (netapp)"
grep -q '"EQLOGIC"' /etc/multipath.conf && grep -q '"NETAPP"' /etc/multipath.conf || die "multipath.conf lacks one of the two device sections"
lab_iscsid_start || die "iscsid"
lab_multipathd_start || die "multipathd"
lab_nodes_new netapp && lab_nodes_new equallogic || die "node records"
lab_login netapp && lab_login equallogic || die "login"
udevadm settle --timeout=30
wait_for 120 "maps_ready $N" || { multipath -ll; die "maps did not form"; }
sleep 2

{
  echo "# lab topology of this capture (Tests/Lab/guest/capture.sh), $(date -u +%FT%TZ)"
  echo "# kernel $(uname -r), multipath-tools $(dpkg-query -W -f '${Version}' multipath-tools), open-iscsi $(dpkg-query -W -f '${Version}' open-iscsi), LIO target (kernel)"
  echo "# path A: iface0 -> ini0 192.0.2.1 -> portal $PORTAL_A:3260"
  echo "# path B: iface1 -> ini1 198.51.100.1 -> portal $PORTAL_B:3260"
  echo "# NetApp LUNs: ALUA, port group 1 (portal A) active/optimized, group 2 (portal B) active/non-optimized"
  echo "# EqualLogic LUN: no ALUA, both portals in one target portal group"
  echo "## map wwid dm vendor,product (sd: portal)"
  for m in $(dmsetup ls --target multipath | awk '{print $1}' | sort); do
    dm=$(readlink -f /dev/mapper/$m); dm=${dm##*/}
    echo "$m $(cat /sys/block/$dm/dm/uuid) $dm $(multipath -ll $m | head -1 | sed 's/^.* dm-[0-9]* //')" \
      "($(for s in $(ls /sys/block/$dm/slaves); do echo -n "$s: $(disk_portal $s) "; done | sed 's/ $//'))"
  done
  echo "## /etc/multipath.conf (sanpath apply: equallogic nc, then netapp nc)"
  cat /etc/multipath.conf
  echo "## /etc/iscsi/iscsid.conf"
  cat /etc/iscsi/iscsid.conf
} > "$F/topology.txt"

capture healthy

# --- cut path A, watching udev until every map reported PATH_FAILED
U=$F/udev-path-cut-restore.txt
devs_a=$(portal_devs $PORTAL_A)
monitor_start /tmp/udev-cut.txt
t_cut=$(uptime_s)
fail_path drop $PORTAL_A
wait_for 90 '[ "$(udev_maps /tmp/udev-cut.txt PATH_FAILED)" -ge '"$N"' ] && all_in_state F '"$(echo $devs_a)" ||
  die "path A did not fail in dm within 90 s: $(dm_path_states | tr '\n' ' ')"
t_failed=$(uptime_s)
monitor_stop
say "path A failed in dm $(awk -v a="$t_cut" -v b="$t_failed" 'BEGIN { printf "%.1f", b - a }')s after the cut"
capture degraded

# --- restore path A, watching udev until every map reported PATH_REINSTATED
monitor_start /tmp/udev-restore.txt
t_restore=$(uptime_s)
restore_path drop $PORTAL_A
wait_for 90 '[ "$(udev_maps /tmp/udev-restore.txt PATH_REINSTATED)" -ge '"$N"' ] && all_in_state A '"$(echo $devs_a)" ||
  die "path A was not reinstated within 90 s: $(dm_path_states | tr '\n' ' ')"
t_back=$(uptime_s)
monitor_stop
{
  echo "# udevadm monitor --kernel --udev --property --subsystem-match=block"
  echo "# lab topology: $N maps ($NETAPP_LUNS NetApp ALUA, $EQL_LUNS EqualLogic), 2 paths each; see topology.txt."
  echo "# Timestamps in KERNEL[...] / UDEV [...] are seconds of guest uptime (CLOCK_MONOTONIC)."
  echo "#"
  echo "# === CUT: path A ($PORTAL_A) dropped with nftables at uptime $t_cut s;"
  echo "#     monitor stopped at $t_failed s, once every map had sent DM_ACTION=PATH_FAILED"
  cat /tmp/udev-cut.txt
  echo "#"
  echo "# === RESTORE: nftables drop removed at uptime $t_restore s;"
  echo "#     monitor stopped at $t_back s, once every map had sent DM_ACTION=PATH_REINSTATED"
  cat /tmp/udev-restore.txt
} > "$U"
wait_for 60 "maps_ready $N" || die "paths did not come back to active/ready"

# --- both paths cut: dead
fail_path drop $PORTAL_A; fail_path drop $PORTAL_B
t_dead=$(uptime_s)
wait_for 120 "all_in_state F $(echo $(portal_devs $PORTAL_A) $(portal_devs $PORTAL_B))" ||
  die "not every path failed within 120 s: $(dm_path_states | tr '\n' ' ')"
say "every path F $(awk -v a="$t_dead" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')s after both cuts"
sleep 1
capture dead
say "capture done: $(find "$F" -type f | wc -l) files, $(find "$F" -type l | wc -l) symlinks, $(du -sh "$F" | cut -f1)"
