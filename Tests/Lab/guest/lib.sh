# Tests/Lab/guest/lib.sh: helpers for payloads that run INSIDE the lab guest (scenarios, the fixture
# capture). Source it from bash: `source /lab/guest/lib.sh`. Needs the share laid out by
# Tests/Lab/run-suite (/lab/guest, /lab/bin/sanpath, /lab/templates) and $OUT (set by run).
#
# Topology (everything lives inside the guest, which has no network device to the outside):
#   netns "tgt" holds the LIO iSCSI target (kernel target, configured through configfs);
#   two veth pairs connect it to the initiator in the root netns:
#     path A: ini0 192.0.2.1/24    <-> tgt0 192.0.2.2/24     portal 192.0.2.2:3260    iface0 -> ini0
#     path B: ini1 198.51.100.1/24 <-> tgt1 198.51.100.2/24  portal 198.51.100.2:3260 iface1 -> ini1
#   (documentation ranges; they exist only inside the guest).
#   lab_target_setup VENDOR N makes LAB_NTARGETS (default 1) targets with N fileio LUNs (sparse
#   files in RAM) that answer INQUIRY as that vendor's array (wwn/vendor_id, wwn/product_id):
#     equallogic  EQLOGIC / 100E-00     no ALUA (TPGS 0), one TPG holding both portals
#     netapp      NETAPP  / LUN C-Mode  implicit ALUA: tpgt_1 = portal A in port group 1 active/optimized,
#     vnx         DGC     / VRAID               tpgt_2 = portal B in port group 2 active/non-optimized
#   Serials are all-hex and unique per vendor and LUN (LIO builds the NAA WWID from the serial's
#   hex digits only), so several vendors can share one guest.
#
# Functions: lab_net_setup, lab_target_setup, lab_iscsid_start, lab_multipathd_start,
#   lab_sanpath_install, lab_site, lab_nodes_new, lab_login, lab_sessions, nmaps, maps_ready,
#   mpath_groups, disk_portal, portal_disks, fail_path/restore_path, wait_for, and the check
#   helpers check / expect_rc / known_bug / lab_finish (results in $OUT/checks.txt, details in
#   $OUT/checks.log).
# Tunables (env, `run -e VAR=VALUE`): LAB_NTARGETS=1, MPATHD_VERBOSITY=2, ISCSID_DEBUG=0.

PORTAL_A=192.0.2.2 PORTAL_B=198.51.100.2
# open-iscsi's database (ifaces, nodes): /etc/iscsi on Debian 12, /var/lib/iscsi on Debian 13
# (its iscsiadm is built for it and the package ships the folder; sanpath's plan finds it the same way)
ISCSI_DB=/etc/iscsi; [ -d /var/lib/iscsi ] && ISCSI_DB=/var/lib/iscsi
CFG=/sys/kernel/config/target
OUT=${OUT:-/out}
LAB_LOG=/var/log/lab
mkdir -p "$OUT" "$LAB_LOG"

now() { echo "$EPOCHREALTIME"; }                             # seconds, microsecond resolution
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
uptime_s() { awk '{print $1}' /proc/uptime; }
say() { echo "== [$(uptime_s)s] $*"; }

# wait_for TIMEOUT_S 'SHELL CONDITION': re-evaluate the condition (eval) every 0.2 s until it
# succeeds; returns 1 after TIMEOUT_S. Quote it so $(...) inside is re-run on every poll.
wait_for() {
  local t=$1 start=$EPOCHREALTIME; shift
  until eval "$*" >/dev/null 2>&1; do
    awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$t" 'BEGIN { exit !(b - a > t) }' && return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
# checks: every check prints PASS/FAIL to stdout and $OUT/checks.txt; its output goes to
# $OUT/checks.log (and, on failure, to stdout). lab_finish exits 1 when any check failed.
LAB_PASSED=0 LAB_FAILED=0
_record() {  # _record RC DESC OUTPUT
  if [ "$1" = 0 ]; then
    LAB_PASSED=$((LAB_PASSED + 1)); echo "PASS  $2" | tee -a "$OUT/checks.txt"
  else
    LAB_FAILED=$((LAB_FAILED + 1)); echo "FAIL  $2" | tee -a "$OUT/checks.txt"
    [ -n "$3" ] && printf '%s\n' "$3" | tail -n 40 | sed 's/^/      | /'
  fi
  printf '### %s: %s\n%s\n' "$([ "$1" = 0 ] && echo PASS || echo FAIL)" "$2" "$3" >> "$OUT/checks.log"
}
# check DESC CMD [ARGS...]: passes when CMD exits 0
check() {
  local desc=$1 o rc; shift
  o=$("$@" 2>&1); rc=$?
  _record "$rc" "$desc" "$o"
  return "$rc"
}
# expect_rc WANT FILE DESC CMD [ARGS...]: runs CMD, keeps its stdout+stderr in $OUT/FILE, passes
# when its exit code is WANT
expect_rc() {
  local want=$1 file=$OUT/$2 desc=$3 rc; shift 3
  "$@" > "$file" 2>&1; rc=$?
  _record "$([ "$rc" = "$want" ]; echo $?)" "$desc: exit $rc (want $want) [${file#"$OUT"/}]" "$(tail -n 40 "$file")"
  [ "$rc" = "$want" ]
}
# known_bug REASON DESC CMD [ARGS...]: a check that fails today because of a product bug that is
# reported but not fixed yet. Failing, it prints "XFAIL" with REASON and does not fail the
# scenario; passing, it prints "XPASS" and FAILS the scenario, so that the marker gets removed
# and the check becomes a plain `check` again.
LAB_XFAILED=0
known_bug() {
  local why=$1 desc=$2 o rc; shift 2
  o=$("$@" 2>&1); rc=$?
  if [ "$rc" = 0 ]; then
    LAB_FAILED=$((LAB_FAILED + 1))
    echo "FAIL  XPASS (fixed? make it a plain check): $desc" | tee -a "$OUT/checks.txt"
  else
    LAB_XFAILED=$((LAB_XFAILED + 1))
    echo "XFAIL $desc -- known bug: $why" | tee -a "$OUT/checks.txt"
    printf '%s\n' "$o" | tail -n 15 | sed 's/^/      | /'
  fi
  printf '### %s: %s (known bug: %s)\n%s\n' "$([ "$rc" = 0 ] && echo XPASS || echo XFAIL)" "$desc" "$why" "$o" >> "$OUT/checks.log"
  return 0
}
# lab_finish: summary line, exit code of the scenario (1 if a check failed or none ran)
lab_finish() {
  say "checks: $LAB_PASSED passed, $LAB_FAILED failed, $LAB_XFAILED known bugs (XFAIL)"
  [ "$LAB_FAILED" = 0 ] && [ "$LAB_PASSED" -gt 0 ] && exit 0
  exit 1
}

# ---------------------------------------------------------------------------------------------
# target side
lab_net_setup() {
  modprobe -a veth nf_tables || return 1
  ip netns add tgt
  ip link add ini0 type veth peer name tgt0 netns tgt
  ip link add ini1 type veth peer name tgt1 netns tgt
  ip addr add 192.0.2.1/24 dev ini0; ip addr add 198.51.100.1/24 dev ini1
  ip link set ini0 up; ip link set ini1 up
  ip -n tgt addr add $PORTAL_A/24 dev tgt0; ip -n tgt addr add $PORTAL_B/24 dev tgt1
  ip -n tgt link set lo up; ip -n tgt link set tgt0 up; ip -n tgt link set tgt1 up
}

# lab_vendor VENDOR: sets V_ID, V_PRODUCT (INQUIRY strings), V_ALUA (1: two ALUA port groups),
# V_IQN (target IQN prefix, the array's real one), V_CODE (2 hex digits for the serials)
lab_vendor() {
  case $1 in
    equallogic) V_ID=EQLOGIC V_PRODUCT=100E-00      V_ALUA=0 V_IQN=iqn.2001-05.com.equallogic:0-8a0906-lab-t V_CODE=e1 ;;
    netapp)     V_ID=NETAPP  V_PRODUCT="LUN C-Mode" V_ALUA=1 V_IQN=iqn.1992-08.com.netapp:sn.lab-t V_CODE=a2 ;;
    vnx)        V_ID=DGC     V_PRODUCT=VRAID        V_ALUA=1 V_IQN=iqn.1992-04.com.emc:cx.lab-t V_CODE=c3 ;;
    *) echo "lab_vendor: unknown vendor '$1' (equallogic, netapp, vnx)" >&2; return 1 ;;
  esac
}
lab_iqns() { local k; lab_vendor "$1" || return 1; for ((k = 0; k < ${LAB_NTARGETS:-1}; k++)); do echo "$V_IQN$k"; done; }
# cfgw VALUE FILE: write a configfs attribute, loudly
cfgw() { printf '%s\n' "$1" > "$2" || { echo "lab: cannot write '$1' to $2" >&2; return 1; }; }

# lab_target_setup VENDOR NLUNS [SIZE_MB]: LIO targets whose NLUNS fileio LUNs answer as VENDOR
lab_target_setup() {
  local vendor=$1 n=$2 size=${3:-64} i b iqn t t1 t2 l
  lab_vendor "$vendor" || return 1
  modprobe -a target_core_mod target_core_file iscsi_target_mod || return 1
  mkdir -p /var/lib/lab
  for iqn in $(lab_iqns "$vendor"); do
    mkdir -p "$CFG/iscsi/$iqn/tpgt_1" || return 1
    [ "$V_ALUA" = 1 ] && { mkdir -p "$CFG/iscsi/$iqn/tpgt_2" || return 1; }
  done
  for ((i = 0; i < n; i++)); do
    b=$CFG/core/fileio_0/${vendor}_$i
    t1=$CFG/iscsi/$V_IQN$((i % ${LAB_NTARGETS:-1}))/tpgt_1
    t2=${t1%_1}_2
    truncate -s "${size}M" "/var/lib/lab/${vendor}_$i.img"
    mkdir -p "$b" || return 1
    cfgw "fd_dev_name=/var/lib/lab/${vendor}_$i.img,fd_dev_size=$((size * 1048576))" "$b/control" || return 1
    # all-hex and unique: LIO's NAA WWID is made of the serial's hex digits only
    cfgw "$(printf 'ab5e%s%08x' "$V_CODE" "$i")" "$b/wwn/vpd_unit_serial" || return 1
    # INQUIRY identity: only writable while the LUN is not exported
    cfgw "$V_ID" "$b/wwn/vendor_id" || return 1
    cfgw "$V_PRODUCT" "$b/wwn/product_id" || return 1
    cfgw 1 "$b/enable" || return 1
    if [ "$V_ALUA" = 1 ]; then
      # two ALUA target port groups: A active/optimized (state 0), B active/non-optimized (1).
      # Implicit ALUA only (access type 1), as NetApp ONTAP reports it: with explicit ALUA on,
      # the initiator's scsi_dh_alua sends SET TARGET PORT GROUPS when dm activates group B and
      # LIO makes B optimized too (seen in the lab: both groups prio 50, one path group).
      mkdir -p "$b/alua/lab_pg_a" "$b/alua/lab_pg_b" || return 1
      cfgw 1 "$b/alua/lab_pg_a/tg_pt_gp_id" && cfgw 2 "$b/alua/lab_pg_b/tg_pt_gp_id" || return 1
      cfgw 1 "$b/alua/lab_pg_a/alua_access_type" && cfgw 1 "$b/alua/lab_pg_b/alua_access_type" || return 1
      cfgw 0 "$b/alua/lab_pg_a/alua_access_state" && cfgw 1 "$b/alua/lab_pg_b/alua_access_state" || return 1
      for l in "$t1|lab_pg_a" "$t2|lab_pg_b"; do
        mkdir "${l%|*}/lun/lun_$i" && ln -s "$b" "${l%|*}/lun/lun_$i/${vendor}_$i" || return 1
        cfgw "${l#*|}" "${l%|*}/lun/lun_$i/alua_tg_pt_gp" || return 1
      done
    else
      # no ALUA at all (EqualLogic PS arrays report TPGS 0): switch LIO's implicit group off
      cfgw 0 "$b/alua/default_tg_pt_gp/alua_access_type" || return 1
      mkdir "$t1/lun/lun_$i" && ln -s "$b" "$t1/lun/lun_$i/${vendor}_$i" || return 1
    fi
  done
  for iqn in $(lab_iqns "$vendor"); do
    for t in "$CFG/iscsi/$iqn"/tpgt_*; do
      # demo mode: any initiator may log in, no CHAP, read-write
      cfgw 1 "$t/attrib/generate_node_acls" && cfgw 1 "$t/attrib/cache_dynamic_acls" || return 1
      cfgw 0 "$t/attrib/authentication" && cfgw 0 "$t/attrib/demo_mode_write_protect" || return 1
    done
    # portals are created from inside netns tgt so LIO listens there
    if [ "$V_ALUA" = 1 ]; then
      nsenter --net=/run/netns/tgt mkdir "$CFG/iscsi/$iqn/tpgt_1/np/$PORTAL_A:3260" "$CFG/iscsi/$iqn/tpgt_2/np/$PORTAL_B:3260" || return 1
    else
      nsenter --net=/run/netns/tgt mkdir "$CFG/iscsi/$iqn/tpgt_1/np/$PORTAL_A:3260" "$CFG/iscsi/$iqn/tpgt_1/np/$PORTAL_B:3260" || return 1
    fi
    for t in "$CFG/iscsi/$iqn"/tpgt_*; do cfgw 1 "$t/enable" || return 1; done
  done
}

# ---------------------------------------------------------------------------------------------
# initiator side
# lab_iscsid_start: iscsid in the foreground (so its output is kept), log $LAB_LOG/iscsid.log
lab_iscsid_start() {
  modprobe -a iscsi_tcp sd_mod sg || return 1
  grep -qs '^InitiatorName=' /etc/iscsi/initiatorname.iscsi ||
    echo "InitiatorName=iqn.1993-08.org.debian:01:5a9e1ab0c0de" > /etc/iscsi/initiatorname.iscsi
  iscsid -f -d "${ISCSID_DEBUG:-0}" >> "$LAB_LOG/iscsid.log" 2>&1 &
  wait_for 10 'grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix'
}
# lab_multipathd_start: multipathd in the foreground, log $LAB_LOG/multipathd.log (no syslog here)
lab_multipathd_start() {
  modprobe -a dm_multipath dm_round_robin dm_service_time dm_queue_length scsi_dh_alua scsi_dh_emc || return 1
  multipathd -d -s -v"${MPATHD_VERBOSITY:-2}" >> "$LAB_LOG/multipathd.log" 2>&1 &
  wait_for 10 'multipathd show daemon'
}
# lab_sanpath_install: the statically linked sanpath staged by run-suite, templates from the share
lab_sanpath_install() {
  [ -x /lab/bin/sanpath ] || { echo "lab: /lab/bin/sanpath missing (stage it with run-suite)" >&2; return 1; }
  install -m 0755 /lab/bin/sanpath /usr/local/bin/sanpath || return 1
  # a debug build comes with the Swift runtime it links (host.sh lab_stage)
  if [ -d /lab/lib ]; then
    mkdir -p /usr/local/lib/sanpath && cp /lab/lib/* /usr/local/lib/sanpath/ &&
      echo /usr/local/lib/sanpath > /etc/ld.so.conf.d/sanpath.conf && ldconfig || return 1
  fi
  export SANPATH_TEMPLATES=/lab/templates
}
# lab_site VENDOR [ROLE]: the Eucalyptus NC site of the lab: /etc/sanpath/site.toml (vendor, role,
# paths iface0:A,iface1:B) and eucalyptus.conf's STORAGE_INTERFACES (iface0=ini0,iface1=ini1),
# plus the eucalyptus user the udev rule hands the maps to
lab_site() {
  mkdir -p /etc/sanpath /etc/eucalyptus
  cat > /etc/sanpath/site.toml <<EOF
# lab site: Eucalyptus ${2:-nc} host with two iSCSI paths
vendor = "$1"
role = "${2:-nc}"
paths = "iface0:$PORTAL_A,iface1:$PORTAL_B"
eucalyptus_conf = "/etc/eucalyptus/eucalyptus.conf"
EOF
  cat > /etc/eucalyptus/eucalyptus.conf <<EOF
EUCALYPTUS="/"
EUCA_USER="eucalyptus"
STORAGE_INTERFACES="iface0=ini0,iface1=ini1"
EOF
  id eucalyptus >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin eucalyptus
}
# lab_nodes_new VENDOR: node records the way Eucalyptus makes them (one per path, bound to its iface)
lab_nodes_new() {
  local iqn
  for iqn in $(lab_iqns "$1"); do
    iscsiadm -m node -T "$iqn" -p $PORTAL_A:3260 -I iface0 -o new || return 1
    iscsiadm -m node -T "$iqn" -p $PORTAL_B:3260 -I iface1 -o new || return 1
  done
}
# lab_login VENDOR: log in record by record, as Eucalyptus' connect script does
lab_login() {
  local iqn rc=0
  for iqn in $(lab_iqns "$1"); do
    iscsiadm -m node -T "$iqn" -p $PORTAL_A:3260 -I iface0 --login || rc=1
    iscsiadm -m node -T "$iqn" -p $PORTAL_B:3260 -I iface1 --login || rc=1
  done
  return $rc
}
# lab_sessions: one line per session from `iscsiadm -m session -P 1`:
#   TARGET PORTAL(ip:port) IFACE NETDEV IFACE_IP SID SESSION_STATE
lab_sessions() {
  iscsiadm -m session -P 1 2>/dev/null | awk '
    /^Target:/ {t = $2}
    /Current Portal:/ {p = $3; sub(/,.*/, "", p)}
    /Iface Name:/ {i = $3} /Iface Netdev:/ {n = $3} /Iface IPaddress:/ {a = $3}
    /SID:/ {s = $2}
    /iSCSI Session State:/ {print t, p, i, n, a, s, $4}'
}

# ---------------------------------------------------------------------------------------------
# maps and paths
nmaps() { dmsetup ls --target multipath 2>/dev/null | grep -vc '^No devices' || true; }
# maps_ready N: N maps exist and 2N paths are active/ready in multipathd
maps_ready() {
  [ "$(nmaps)" -ge "$1" ] &&
    [ "$(multipathd show paths raw format '%m %t %T' 2>/dev/null | awk '$1 != "[orphan]" && $2 == "active" && $3 == "ready"' | wc -l)" -ge $((2 * $1)) ]
}
# mpath_groups MAP: one line per path group of `multipath -ll MAP`: "PRIO STATUS SD SD..."
mpath_groups() {
  multipath -ll "$1" 2>/dev/null | awk '
    /policy=/ { if (g) print g; g = ""; for (i = 1; i <= NF; i++) { if ($i ~ /^prio=/) { sub(/prio=/, "", $i); g = $i } if ($i ~ /^status=/) { sub(/status=/, "", $i); g = g " " $i } } }
    / [0-9]+:[0-9]+:[0-9]+:[0-9]+ sd[a-z]+ / { for (i = 1; i <= NF; i++) if ($i ~ /^sd[a-z]+$/) g = g " " $i }
    END { if (g) print g }'
}
# disk_portal SD: the portal address of the iSCSI session an sd disk belongs to
disk_portal() {
  local s
  s=$(readlink -f "/sys/block/$1/device" | grep -o 'session[0-9]*' | head -1)
  cat /sys/class/iscsi_session/"$s"/device/connection*/iscsi_connection/connection*/persistent_address 2>/dev/null
}
# portal_disks PORTAL: sd disks seen through the session(s) to PORTAL
portal_disks() {
  local c s b
  for c in /sys/class/iscsi_connection/connection*; do
    [ "$(cat "$c/persistent_address" 2>/dev/null)" = "$1" ] || continue
    s=${c##*/connection}; s=${s%%:*}
    for b in /sys/class/iscsi_session/session"$s"/device/target*/*/block/*; do [ -e "$b" ] && echo "${b##*/}"; done
  done
}

# path-failure injection: fail_path METHOD PORTAL / restore_path METHOD PORTAL
#   drop     : nftables drops iSCSI traffic to/from the portal (like a dead switch port)
#   linkdown : the initiator-side veth of that path goes down
#   offline  : echo offline > /sys/block/sdX/device/state for that path's disks (SCSI layer only)
#   tgtdrop  : nftables in netns tgt drops the portal's iSCSI traffic (the array side goes silent;
#              the initiator's links stay up, as when a switch or the array's port dies)
fail_path() {
  local d t=labfail_${2//./_}
  case $1 in
    tgtdrop) ip netns exec tgt nft -f - <<EOF
table inet $t {
  chain in  { type filter hook input priority 0;  ip daddr $2 tcp dport 3260 drop; }
  chain out { type filter hook output priority 0; ip saddr $2 tcp sport 3260 drop; }
}
EOF
      ;;
    drop) nft -f - <<EOF
table inet $t {
  chain out { type filter hook output priority 0; ip daddr $2 tcp dport 3260 drop; }
  chain in  { type filter hook input priority 0;  ip saddr $2 tcp sport 3260 drop; }
}
EOF
      ;;
    linkdown) if [ "$2" = $PORTAL_A ]; then ip link set ini0 down; else ip link set ini1 down; fi ;;
    offline) for d in $(portal_disks "$2"); do echo offline > /sys/block/$d/device/state; done ;;
    *) echo "fail_path: unknown method $1" >&2; return 1 ;;
  esac
}
restore_path() {
  local d t=labfail_${2//./_}
  case $1 in
    drop) nft delete table inet $t ;;
    tgtdrop) ip netns exec tgt nft delete table inet $t ;;
    linkdown) if [ "$2" = $PORTAL_A ]; then ip link set ini0 up; else ip link set ini1 up; fi ;;
    offline) for d in $(portal_disks "$2"); do echo running > /sys/block/$d/device/state; done ;;
    *) echo "restore_path: unknown method $1" >&2; return 1 ;;
  esac
}
