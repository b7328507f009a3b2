# Tests/Lab/guest/provision.sh: the body of the provision-<vendor> scenarios (sourced by
# scenarios/provision-*.sh inside the guest, after guest/lib.sh; not a command).
#
# provision_scenario VENDOR WHEN: a fresh Eucalyptus NC with NO /etc/multipath.conf and NO
# /etc/iscsi/iscsid.conf, NLUNS (default 2) LIO LUNs that answer as VENDOR, the lab NC site
# (paths iface0:192.0.2.2,iface1:198.51.100.2, STORAGE_INTERFACES iface0=ini0,iface1=ini1).
#   WHEN=before: iscsid and multipathd run before `sanpath apply` (apply's `multipathd
#                reconfigure` path must make the profile live);
#   WHEN=after:  they start after apply and read the files at start-up.
# Checks: plan exits 2, apply 0, plan 0; multipathd show config carries the profile's device
# section; node records made the Eucalyptus way inherit the profile's iscsid.conf values; each
# session runs through its iface and NIC; one map per LUN with the profile's grouping, features,
# hardware handler and path selector, mpathN names, the INQUIRY identity on the sd disks, and
# the udev rule's owner/mode on the map devices. What was seen goes to $OUT/observations.txt.

provision_scenario() {
  local vendor=$1 when=$2 n=${NLUNS:-2}
  lab_vendor "$vendor" || exit 1
  say "provision-$vendor: $n LUNs answering as '$V_ID' / '$V_PRODUCT' (ALUA: $V_ALUA); daemons start $when apply"

  # --- the fresh host
  lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
  check "LIO target: $n LUNs with the $vendor INQUIRY identity" lab_target_setup "$vendor" "$n" || lab_finish
  rm -f /etc/multipath.conf /etc/iscsi/iscsid.conf
  rm -rf "$ISCSI_DB/ifaces/iface0" "$ISCSI_DB/ifaces/iface1" /etc/udev/rules.d/57-dm-permissions.rules
  [ ! -e /etc/multipath.conf ] && [ ! -e /etc/iscsi/iscsid.conf ] || { _record 1 "fresh host without multipath.conf/iscsid.conf" ""; lab_finish; }
  check "sanpath installed in the guest" lab_sanpath_install || lab_finish
  lab_site "$vendor" nc
  cp /etc/sanpath/site.toml "$OUT/site.toml"

  if [ "$when" = before ]; then
    check "iscsid started (no iscsid.conf yet)" lab_iscsid_start
    check "multipathd started (no multipath.conf yet)" lab_multipathd_start
    multipathd show config > "$OUT/show-config-before-apply.txt" 2>&1
  fi

  # --- plan, apply, plan
  expect_rc 2 plan-fresh.txt "sanpath plan on the fresh host: changes pending" sanpath plan
  expect_rc 0 apply.txt "sanpath apply" sanpath apply
  expect_rc 0 plan-after-apply.txt "sanpath plan after apply: host matches" sanpath plan
  check "apply wrote multipath.conf, iscsid.conf, ifaces iface0/iface1 and the udev rule" \
    ls -l /etc/multipath.conf /etc/iscsi/iscsid.conf "$ISCSI_DB/ifaces/iface0" "$ISCSI_DB/ifaces/iface1" /etc/udev/rules.d/57-dm-permissions.rules
  cp /etc/multipath.conf "$OUT/multipath.conf"; cp /etc/iscsi/iscsid.conf "$OUT/iscsid.conf"

  if [ "$when" = before ]; then
    check "apply ran multipathd reconfigure (multipathd was running)" grep -q 'multipathd reconfigure: ok' "$OUT/apply.txt"
  else
    check "apply saw multipathd not running and did not reload it" grep -q 'multipathd is not running' "$OUT/apply.txt"
    check "iscsid started" lab_iscsid_start
    check "multipathd started with the applied multipath.conf" lab_multipathd_start
  fi
  multipathd show config > "$OUT/show-config.txt" 2>&1
  check "multipathd show config has the profile's $V_ID device section (every key of /etc/multipath.conf's)" \
    device_section_live "$V_ID" /etc/multipath.conf "$OUT/show-config.txt"
  if [ "$when" = before ]; then
    check "the live config changed through apply's reconfigure (show config before != after)" \
      bash -c "! cmp -s '$OUT/show-config-before-apply.txt' '$OUT/show-config.txt'"
  fi
  check "multipath -t reads the applied file without a complaint" mpath_conf_clean

  # --- node records and login, the way Eucalyptus does it
  check "node records created per path and iface (iscsiadm -m node -o new -I ifaceN)" lab_nodes_new "$vendor"
  check "node records inherit iscsid.conf's replacement_timeout and the iface's NIC" node_records_ok "$vendor"
  check "login through both paths" lab_login "$vendor"
  local ntg=${LAB_NTARGETS:-1}
  wait_for 30 '[ "$(lab_sessions | grep -c LOGGED_IN)" -ge $((2 * ntg)) ]'
  lab_sessions > "$OUT/sessions.txt"
  iscsiadm -m session -P 1 > "$OUT/iscsiadm-session-P1.txt" 2>&1
  check "each session runs through the right iface, NIC and source address" sessions_bound "$((2 * ntg))"

  # --- maps
  udevadm settle --timeout=30
  local t0; t0=$(now)
  if [ "$vendor" = vnx ]; then
    # the emc_clariion checker never reports a LIO path ready (see vnx_checker_on_lio)
    wait_for 120 "maps_formed $n"
  else
    wait_for 120 "maps_ready $n"
  fi
  say "maps: $(nmaps), $(since "$t0")s after login"
  if [ "$V_ALUA" = 1 ]; then
    # multipathd may create a map before it knows both paths' prio (seen: portal B first) and
    # regroups it at a later check (failback immediate): give it several checker intervals
    # (a CI run under load saw VNX's maps take more than 40 s)
    # (each look runs dmsetup and multipathd per map: every 2 s, not in a tight loop beside it)
    if [ "$vendor" = vnx ] && ! alua_read_at_attach; then
      say "VNX on kernel $(uname -r): no regrouping to wait for (see alua_read_at_attach)"
    else
      [ "$vendor" = vnx ] && export MAP_GROUPS_ANY_IN_USE=1
      wait_for 150 'maps_groups_settled || { sleep 2; false; }'
      unset MAP_GROUPS_ANY_IN_USE
      say "ALUA groups settled: $(since "$t0")s after login"
    fi
  fi
  multipath -ll > "$OUT/multipath-ll.txt" 2>&1
  multipathd show paths format "%d %w %m %c %t %T %o %p %s %g" > "$OUT/paths.txt" 2>&1
  multipathd show maps json > "$OUT/maps.json" 2>&1
  dmsetup table > "$OUT/dmsetup-table.txt" 2>&1; dmsetup status > "$OUT/dmsetup-status.txt" 2>&1
  if [ "$vendor" = vnx ]; then
    check "one map per LUN: $n maps, each with 2 paths that dm keeps active" maps_formed "$n"
    check "VNX on LIO: the emc_clariion checker (built-in DGC entry) cannot probe a LIO LUN: every path's checker state is undef, dm keeps it active" vnx_checker_on_lio
    check "VNX: no prio/hardware_handler in the DGC section; detect_prio gives every path of the ALUA LUNs an ALUA-based prio (not the built-in emc)" vnx_prio_detected
  else
    check "one map per LUN: $n maps, each with 2 active/ready paths" maps_ready "$n"
  fi
  check "exactly $n multipath maps (no merged or extra maps)" bash -c "[ \"\$(dmsetup ls --target multipath | grep -c .)\" = $n ]"
  check "sd disks answer INQUIRY as '$V_ID' / '$V_PRODUCT'" disks_identity
  local map
  for map in $(dmsetup ls --target multipath | awk '{print $1}' | sort); do
    check "$map: user_friendly_names gives an mpathN name" bash -c "[[ $map =~ ^mpath[a-z]+$ ]]"
    check "$map: multipath -ll shows '$V_ID,$V_PRODUCT'" bash -c "multipath -ll $map | head -1 | grep -qF '$V_ID,$V_PRODUCT'"
    check "$map: features and hardware handler of the $vendor profile" map_features "$vendor" "$map"
    check "$map: path selector of the $vendor profile in the dm table" map_selector "$vendor" "$map"
    if [ "$vendor" = vnx ]; then
      check "$map: multipathd uses the profile's no_path_retry (a number of checks; on LIO already counting down: no path is ready for emc_clariion)" \
        map_npr_profile "$map" countdown
    else
      check "$map: multipathd uses the profile's no_path_retry (a number of checks)" map_npr_profile "$map"
    fi
    if [ "$V_ALUA" = 1 ]; then
      if [ "$vendor" = vnx ] && alua_read_at_attach; then
        check "$map: group_by_prio on ALUA: dm has 2 groups; portal A's (optimized) has the higher prio (the group in use: not checked, no checker on LIO)" \
          map_groups_dm_any_in_use "$map"
      elif [ "$vendor" = vnx ]; then
        check "$map: kernel $(uname -r) has not read the ALUA states: LIO reports portal B non-optimized (sg_rtpg), sysfs still says active/optimized for both, so the sysfs prio is 50 for both and dm has one group of 2 paths" \
          vnx_alua_unread "$map"
        check "$map: one read through the map: dm's pg_init makes scsi_dh_alua ask (sysfs: portal A active/optimized, B active/non-optimized)" \
          vnx_alua_read_after_io "$map"
      else
        check "$map: group_by_prio on ALUA: dm has 2 groups; portal A's (optimized) has the higher prio and is the one in use" map_groups_dm "$map"
      fi
      if [ "$vendor" != vnx ]; then
        check "$map: multipath -ll: 2 groups with different prio, higher = portal A, lower = portal B" map_groups_alua "$map"
      fi
    else
      check "$map: multibus: one group holding both paths (portal A and B)" map_groups_multibus "$map"
    fi
    check "$map: /dev/mapper/$map is eucalyptus:disk 660 (the udev rule, named after Debian's 55-dm.rules)" map_owner "$map"
  done

  {
    echo "# provision-$vendor: what the lab saw ($(date -u +%FT%TZ), multipath-tools $(dpkg-query -W -f '${Version}' multipath-tools), open-iscsi $(dpkg-query -W -f '${Version}' open-iscsi), kernel $(uname -r))"
    echo "## multipath -ll"; cat "$OUT/multipath-ll.txt"
    echo "## multipathd show paths format '%d %w %m %c %t %T %o %p %s %g' (dev wwid map checker dm-state chk-state dev-state prio vendor/product/rev serial)"
    cat "$OUT/paths.txt"
    echo "## sessions (target portal iface netdev iface-ip sid state)"; cat "$OUT/sessions.txt"
    echo "## dmsetup table"; cat "$OUT/dmsetup-table.txt"
    echo "## where multipath-tools took each path's settings from (multipath -v3 -ll)"
    multipath -v3 -ll 2>&1 | grep -E ': (checker|path_checker|prio|prio args|detect_prio|detect_checker|hardware_handler|retain_attached_hw_handler|no_path_retry|features|path_grouping_policy|path_selector|user_friendly_names) = ' | sort -u
    echo "## sysfs: sd state, dh_state (kernel device handler), access_state (ALUA)"
    local d
    for d in /sys/block/sd*; do
      echo "${d##*/}: state=$(cat $d/device/state) dh_state=$(cat $d/device/dh_state 2>/dev/null) access_state=$(cat $d/device/access_state 2>/dev/null) portal=$(disk_portal ${d##*/})"
    done
  } > "$OUT/observations.txt"
  cat "$OUT/observations.txt"
  lab_finish
}

# maps_formed N: N maps, and 2N paths that are in a map and active in dm (whatever the checker says)
maps_formed() {
  [ "$(nmaps)" -ge "$1" ] &&
    [ "$(multipathd show paths raw format '%m %t' 2>/dev/null | awk '$1 != "[orphan]" && $2 == "active"' | wc -l)" -ge $((2 * $1)) ]
}
# vnx_checker_on_lio: LIO does not answer the EMC VPD page 0xC0 that emc_clariion sends, and the
# built-in DGC entry sets detect_checker no, so the checker stays emc_clariion and reports
# "doesn't support this device": chk_st undef on every path, dm state active
vnx_checker_on_lio() {
  local p; p=$(multipathd show paths raw format '%d %c %t %T' 2>/dev/null); echo "$p"
  [ -n "$p" ] || return 1
  awk '$2 != "emc_clariion" || $3 != "active" || $4 != "undef" { bad = 1 } END { exit bad }' <<< "$p" || return 1
  grep -q "emc_clariion checker doesn't support this device" "$LAB_LOG/multipathd.log"
}
maps_groups_settled() {
  local m
  for m in $(dmsetup ls --target multipath | awk '{print $1}'); do map_groups_dm "$m" >/dev/null 2>&1 || return 1; done
}
map_groups_dm_any_in_use() { MAP_GROUPS_ANY_IN_USE=1 map_groups_dm "$1"; }
# map_groups_dm MAP: the kernel's view: 2 priority groups of one path each; the group holding the
# portal A path has the higher path prio (multipathd) and is the group dm uses (next pg in
# dmsetup status). multipathd may list the groups in either order (it builds the table before it
# knows every path's prio and then switches groups instead of reordering them).
map_groups_dm() {
  local t st groups d1 d2 pr1 pr2 p1 p2 next want
  t=$(dmsetup table "$1"); st=$(dmsetup status "$1"); echo "table:  $t"; echo "status: $st"
  groups=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+:[0-9]+$/) printf "%s ", $i }' <<< "$t")
  set -- $groups; [ $# = 2 ] || { echo "want 2 paths in the table, got: $groups"; return 1; }
  grep -Eq ' 2 [12] [a-z-]+ [0-9]+ (0 )?1 [0-9]+ ' <<< "$t" || { echo "want 2 groups of 1 path"; return 1; }
  d1=$(basename "$(readlink -f /sys/dev/block/$1)") d2=$(basename "$(readlink -f /sys/dev/block/$2)")
  pr1=$(multipathd show paths raw format '%d %p' | awk -v d="$d1" '$1 == d {print $2}')
  pr2=$(multipathd show paths raw format '%d %p' | awk -v d="$d2" '$1 == d {print $2}')
  p1=$(disk_portal "$d1") p2=$(disk_portal "$d2")
  # dmsetup status: 0 LEN multipath <#feature args> ... <#hw args> ... <#pgs> <next pg> ...
  next=$(awk '{ i = 4; i += $i + 1; i += $i + 1; print $(i + 1) }' <<< "$st")
  echo "group 1: $d1 ($p1, prio $pr1); group 2: $d2 ($p2, prio $pr2); dm uses group $next"
  if [ "$p1" = "$PORTAL_A" ] && [ "$p2" = "$PORTAL_B" ]; then want=1
  elif [ "$p1" = "$PORTAL_B" ] && [ "$p2" = "$PORTAL_A" ]; then want=2
  else echo "paths are not one per portal"; return 1; fi
  local pa pb; if [ $want = 1 ]; then pa=$pr1 pb=$pr2; else pa=$pr2 pb=$pr1; fi
  [ "${pa:-0}" -gt "${pb:-0}" ] || return 1
  # VNX on LIO: the emc_clariion checker never reports a path up (vnx_checker_on_lio), so
  # multipathd's failback never switches to the better group when the map formed on portal B
  # first; only the grouping and the prios can be checked then
  [ "${MAP_GROUPS_ANY_IN_USE:-0}" = 1 ] || [ "$next" = "$want" ]
}

# device_section_live VENDOR_ID CONF SHOWCONFIG: some device block of SHOWCONFIG has every
# "key value" line of CONF's device block for VENDOR_ID (quotes and spacing normalised)
device_section_live() {
  local want have missing=0 line
  want=$(awk -v v="$1" '
    function norm(s) { gsub(/"/, "", s); gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
    /^[ \t]*#/ { next }
    /^[ \t]*device[ \t]*\{/ { indev = 1; n = 0; mine = 0; next }
    indev && /^[ \t]*\}/ { if (mine) for (i = 1; i <= n; i++) print l[i]; indev = 0; next }
    indev { s = norm($0); if (s == "") next; l[++n] = s; if (s == "vendor " v) mine = 1 }' "$2")
  [ -n "$want" ] || { echo "no device section for vendor $1 in $2"; return 1; }
  have=$(awk -v v="$1" '
    function norm(s) { gsub(/"/, "", s); gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
    /^[ \t]*device[ \t]*\{/ { indev = 1; b = ""; mine = 0; next }
    indev && /^[ \t]*\}/ { if (mine) print b "@@"; indev = 0; next }
    indev { s = norm($0); b = b s "\n"; if (s == "vendor " v) mine = 1 }' "$3")
  [ -n "$have" ] || { echo "no device block with vendor $1 in multipathd show config"; return 1; }
  # one live block must hold every wanted line
  local block ok
  while IFS= read -r -d '@' block; do
    [ -z "${block//[$'\n@']/}" ] && continue
    ok=1
    while IFS= read -r line; do grep -qxF -- "$line" <<< "$block" || { ok=0; break; }; done <<< "$want"
    [ $ok = 1 ] && { echo "live device block holds all $(grep -c . <<< "$want") lines:"; echo "$block"; return 0; }
  done <<< "$have"
  echo "no live $1 device block holds all of:"; echo "$want"
  echo "live $1 blocks:"; echo "${have//@@/---}"
  return 1
}
# mpath_conf_clean: multipath -t (parse the current /etc/multipath.conf) prints nothing on stderr
mpath_conf_clean() {
  local err
  err=$(multipath -t 2>&1 >/dev/null)
  [ -z "$err" ] || { echo "$err"; return 1; }
}
node_records_ok() {
  local iqn want rc=0 rec p i
  want=$(awk -F' *= *' '$1 == "node.session.timeo.replacement_timeout" {print $2}' /etc/iscsi/iscsid.conf)
  [ -n "$want" ] || { echo "no replacement_timeout in iscsid.conf"; return 1; }
  for iqn in $(lab_iqns "$1"); do
    for p in "$PORTAL_A:3260 iface0 ini0" "$PORTAL_B:3260 iface1 ini1"; do
      set -- $p
      rec=$(iscsiadm -m node -T "$iqn" -p "$1" -I "$2") || { echo "no record $iqn $1 $2"; rc=1; continue; }
      grep -qx "node.session.timeo.replacement_timeout = $want" <<< "$rec" || { echo "$iqn $1 $2: $(grep replacement_timeout <<< "$rec") (want $want)"; rc=1; }
      grep -qx "iface.net_ifacename = $3" <<< "$rec" || { echo "$iqn $1 $2: $(grep net_ifacename <<< "$rec") (want $3)"; rc=1; }
    done
  done
  ls -R "$ISCSI_DB/nodes"
  return $rc
}
# sessions_bound N: N sessions; portal A ones via iface0/ini0/192.0.2.1, portal B via iface1/ini1/198.51.100.1
sessions_bound() {
  local s
  s=$(lab_sessions); echo "$s"
  [ "$(grep -c . <<< "$s")" = "$1" ] || { echo "want $1 sessions"; return 1; }
  awk -v a="$PORTAL_A" -v b="$PORTAL_B" '
    $2 == a ":3260" && ($3 != "iface0" || $4 != "ini0" || $5 != "192.0.2.1") { bad = 1; print "wrong binding: " $0 }
    $2 == b ":3260" && ($3 != "iface1" || $4 != "ini1" || $5 != "198.51.100.1") { bad = 1; print "wrong binding: " $0 }
    $2 != a ":3260" && $2 != b ":3260" { bad = 1; print "unexpected portal: " $0 }
    $7 != "LOGGED_IN" { bad = 1; print "not logged in: " $0 }
    END { exit bad }' <<< "$s"
}
disks_identity() {
  local d v m rc=0 n=0
  for d in /sys/block/sd*; do
    [ -e "$d" ] || continue
    n=$((n + 1))
    v=$(sed 's/ *$//' "$d/device/vendor"); m=$(sed 's/ *$//' "$d/device/model")
    echo "${d##*/}: '$v' '$m'"
    [ "$v" = "$V_ID" ] && [ "$m" = "$V_PRODUCT" ] || rc=1
  done
  [ $n -gt 0 ] && return $rc
}
# map_features VENDOR MAP: the dm features and hardware handler the profile asks for. Every
# profile's no_path_retry is a number of checks now (NC: equallogic 30, netapp 16, vnx 60): while
# the map has a path, multipathd keeps queue_if_no_path in the table all the same (seen in the
# lab: '1 queue_if_no_path', netapp '3 queue_if_no_path pg_init_retries 50'); the count only
# starts once no path is left (field-netapp checks what follows).
map_features() {
  local head; head=$(multipath -ll "$2" | sed -n 2p); echo "$head"
  case $1 in
    netapp)     grep -q "features='[0-9]* queue_if_no_path pg_init_retries 50'" <<< "$head" && grep -q "hwhandler='1 alua'" <<< "$head" ;;
    vnx)        grep -q "features='1 queue_if_no_path'" <<< "$head" && grep -q "hwhandler='1 alua'" <<< "$head" ;;
    equallogic) grep -q "features='1 queue_if_no_path'" <<< "$head" && grep -q "hwhandler='0'" <<< "$head" ;;
  esac
}
map_selector() {
  local t; t=$(dmsetup table "$2"); echo "$t"
  case $1 in
    netapp|vnx) grep -q 'service-time 0' <<< "$t" ;;
    # the 2009 Dell guide's "round-robin 0" is gone from the profile: service-time 0 (the profile
    # says why: the kernel's selectors reset a repeat count above 1 to 1)
    equallogic) grep -q 'service-time 0' <<< "$t" && ! grep -q 'round-robin' <<< "$t" ;;
  esac
}
# map_npr MAP: multipathd's no_path_retry column for MAP (%Q): "16 chk", "off", "queue", "N sec"
# (counting down once no path is left)
map_npr() { multipathd show maps raw format '%n %Q' 2>/dev/null | awk -v m="$1" '$1 == m { $1 = ""; sub(/^ /, ""); print }'; }
# map_npr_profile MAP [countdown]: multipathd uses the no_path_retry of /etc/multipath.conf's
# device section: "N chk". With "countdown" (VNX on LIO: the emc_clariion checker readies no path,
# see vnx_checker_on_lio, so multipathd counts the map down at once although dm keeps both paths
# active) a running countdown of at most N x polling_interval seconds is the profile's value too.
map_npr_profile() {
  local want have pi
  want=$(awk '$1 == "no_path_retry" {print $2}' /etc/multipath.conf | tail -1) have=$(map_npr "$1")
  pi=$(multipathd show config 2>/dev/null | awk '$1 == "polling_interval" {print $2; exit}')
  echo "multipath.conf: no_path_retry $want; polling_interval ${pi:-?}; multipathd show maps %Q: $have"
  [ -n "$want" ] || return 1
  [ "$have" = "$want chk" ] && return 0
  [ "${2:-}" = countdown ] && [[ $have =~ ^([0-9]+)\ sec$ ]] && [ "${BASH_REMATCH[1]}" -le $((want * ${pi:-5})) ] &&
    echo "counting down from $((want * ${pi:-5})) s: multipathd sees no ready path"
}
# vnx_prio_detected: the DGC section leaves prio and hardware_handler to the built-in ^DGC entry
# and detect_prio; every path of an ALUA LUN gets an ALUA-based prio (alua, or sysfs, which reads
# the ALUA state scsi_dh_alua keeps), autodetected, not the built-in entry's emc
vnx_prio_detected() {
  local dev
  dev=$(awk '/^[ \t]*device[ \t]*\{/ { d = 1 } d { print } d && /^[ \t]*\}/ { d = 0 }' /etc/multipath.conf)
  grep -E '^[[:space:]]*(prio|prio_args|hardware_handler)[[:space:]]' <<< "$dev" && { echo "the DGC section still sets these"; return 1; }
  local p; p=$(multipath -v3 -ll 2>&1 | grep -E '^[0-9.]+ \| sd[a-z]+: prio = ' | sed 's/^[0-9.]* | //' | sort -u); echo "$p"
  [ -n "$p" ] && ! grep -vqE ': prio = (alua|sysfs) \(setting: storage device autodetected\)$' <<< "$p"
}
# alua_read_at_attach: whether this kernel reads a LUN's ALUA states (RTPG) when its disk attaches.
# Measured in the lab (2026-11-30): Debian 12's 6.1 does (dmesg "alua: port group 02 state N" at
# attach); Debian 13's 6.12.117 does not: dmesg has only "supports implicit TPGS" and "port group 2
# rel port 2", every disk's access_state reads the default active/optimized, while LIO answers
# sg_rtpg with group 2 active/non-optimized all along. The kernel asks on a rescan, or on dm's
# pg_init (hwhandler alua) at the first I/O through the map; then multipathd re-reads the sysfs prio
# at the next check of a path that is up and regroups (NetApp on 6.12: one group at addmap, two ~5 s
# later). VNX on LIO never regroups: emc_clariion cannot check a LIO path (vnx_checker_on_lio), so
# multipathd never re-reads its prio (a read through the map fixed sysfs in 2 s; the prios stayed
# 50/50 for 60 s). So a property of the lab (LIO gives emc_clariion nothing) on kernel 6.12, not of
# the VNX profile, whose settings multipath-tools 0.9.4 and 0.11.1 both take (detect_prio -> sysfs).
# Kernels between 6.1 and 6.12 were not measured: the cut is at 6.12.
alua_read_at_attach() {
  local v; v=$(uname -r); v=${v%%-*}
  [ "$(printf '%s\n' "$v" 6.12 | sort -V | head -1)" != 6.12 ]
}
# map_slaves MAP: the sd disks under the map
map_slaves() { ls "/sys/block/$(basename "$(readlink -f "/dev/mapper/$1")")/slaves"; }
# vnx_alua_unread MAP: kernel >= 6.12 before any I/O through MAP: one group of both paths, each with
# sysfs access_state active/optimized and multipathd prio 50, while LIO reports portal B's group
# (tg_pt_gp_id 2) active/non-optimized
vnx_alua_unread() {
  local t d p st pr rtpg bad=0 n=0
  t=$(dmsetup table "$1"); echo "table: $t"
  grep -Eq ' 1 1 [a-z-]+ [0-9]+ (0 )?2 [0-9]+ ' <<< "$t" || { echo "want 1 group of 2 paths"; bad=1; }
  for d in $(map_slaves "$1"); do
    n=$((n + 1))
    p=$(disk_portal "$d") st=$(cat "/sys/block/$d/device/access_state" 2>/dev/null)
    pr=$(multipathd show paths raw format '%d %p' | awk -v d="$d" '$1 == d {print $2}')
    echo "$d ($p): access_state $st, prio $pr"
    [ "$st" = active/optimized ] && [ "$pr" = 50 ] || bad=1
    if [ "$p" = "$PORTAL_B" ]; then
      rtpg=$(sg_rtpg -d "/dev/$d" 2>&1); echo "$rtpg"
      grep -A1 'target port group id : 0x2 ' <<< "$rtpg" | grep -q 'active/non optimized' || { echo "LIO does not report group 2 non-optimized"; bad=1; }
    fi
  done
  [ "$n" = 2 ] && [ "$bad" = 0 ]
}
# vnx_alua_states_right MAP: the kernel has the ALUA states of MAP's disks: portal A's
# active/optimized, portal B's active/non-optimized
vnx_alua_states_right() {
  local d p st want
  for d in $(map_slaves "$1"); do
    p=$(disk_portal "$d") st=$(cat "/sys/block/$d/device/access_state" 2>/dev/null)
    if [ "$p" = "$PORTAL_A" ]; then want=active/optimized; else want=active/non-optimized; fi
    echo "$d ($p): access_state $st (want $want)"
    [ "$st" = "$want" ] || return 1
  done
}
# vnx_alua_read_after_io MAP: after a 4 KiB O_DIRECT read through MAP, within 15 s
vnx_alua_read_after_io() {
  dd if="/dev/mapper/$1" of=/dev/null bs=4k count=1 iflag=direct status=none || { echo "read through $1 failed"; return 1; }
  wait_for 15 "vnx_alua_states_right '$1'"
  vnx_alua_states_right "$1"
  dmesg | grep -E 'alua: port group 0[12] state' | tail -4
}
map_groups_alua() {
  local g; g=$(mpath_groups "$1"); echo "$g"
  [ "$(grep -c . <<< "$g")" = 2 ] || { echo "want 2 path groups"; return 1; }
  local hi lo
  hi=$(sort -k1,1nr <<< "$g" | head -1) lo=$(sort -k1,1nr <<< "$g" | tail -1)
  set -- $hi; local hp=$1 hd=$3 hn=$#
  set -- $lo; local lp=$1 ld=$3 ln=$#
  echo "high: prio $hp $hd ($(disk_portal "$hd")), low: prio $lp $ld ($(disk_portal "$ld"))"
  [ "$hn" = 3 ] && [ "$ln" = 3 ] && [ "$hp" -gt "$lp" ] &&
    [ "$(disk_portal "$hd")" = "$PORTAL_A" ] && [ "$(disk_portal "$ld")" = "$PORTAL_B" ]
}
map_groups_multibus() {
  local g; g=$(mpath_groups "$1"); echo "$g"
  [ "$(grep -c . <<< "$g")" = 1 ] || { echo "want 1 path group"; return 1; }
  set -- $g
  [ $# = 4 ] && [ "$(printf '%s\n' "$(disk_portal "$3")" "$(disk_portal "$4")" | sort | tr '\n' ' ')" = "$PORTAL_A $PORTAL_B " ]
}
map_owner() {
  local s dm; s=$(stat -L -c '%U:%G %a' "/dev/mapper/$1"); dm=$(readlink -f "/dev/mapper/$1")
  echo "/dev/mapper/$1 -> $dm: $s"
  [ "$s" = "eucalyptus:disk 660" ] && return 0
  echo "udev rules files for dm, in the order udev reads them:"; ls /etc/udev/rules.d /lib/udev/rules.d | grep -E 'dm|multipath' | sort
  echo "udevadm test --action=change /sys/class/block/${dm##*/} (rules that matched):"
  SYSTEMD_LOG_LEVEL=debug udevadm test --action=change "/sys/class/block/${dm##*/}" 2>&1 | grep -E '57-dm-permissions|55-dm.rules:.*DM_UDEV_RULES_VSN|OWNER|GROUP|MODE' | head -20
  return 1
}
