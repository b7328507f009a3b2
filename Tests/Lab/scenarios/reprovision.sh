#!/bin/bash
# Tests/Lab/scenarios/reprovision.sh: sanpath on a host that an admin already configured. The
# guest starts with the admin's /etc/multipath.conf (defaults, a blacklist, another array's
# device section: HITACHI OPEN-V, and a comment block) and Debian's stock iscsid.conf, with
# iscsid and multipathd running on them. Then, for EqualLogic LUNs:
#   sanpath plan exits 2, apply exits 0 and runs `multipathd reconfigure`; every admin line is
#   still there byte for byte (the HITACHI device block, the blacklist, the comments);
#   multipathd's log shows the reconfigure and no complaint about the file; multipath -t is
#   silent; `multipathd show config` holds both the HITACHI and the EQLOGIC device sections; LUNs
#   logged in afterwards get multibus maps (the new section is live); sanpath plan exits 0;
#   `sanpath rollback` restores multipath.conf and iscsid.conf byte for byte, removes the
#   files apply created, reconfigures multipathd (EQLOGIC section gone), and plan exits 2 again.
# Run: Tests/Lab/run-suite reprovision
# lab-timeout: 360
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/provision.sh   # the check helpers (device_section_live, mpath_conf_clean, ...)

# lines_kept_in_order OLD NEW [SKIP_ERE]: every line of OLD (but those matching SKIP_ERE) is a line
# of NEW, in the same order
lines_kept_in_order() {
  awk -v skip="${3:-}" 'NR == FNR { if (skip != "" && $0 ~ skip) { s++; next } old[++n] = $0; next } i < n && $0 == old[i + 1] { i++ }
    END { if (i < n) { print "first admin line missing or out of order: " old[i + 1]; exit 1 } print n " admin lines kept" (s ? ", " s " left out of the comparison" : "") }' "$1" "$2"
}
# no_config_complaint LOG: multipathd said nothing about the configuration file or its keywords
no_config_complaint() {
  ! grep -inE 'multipath\.conf|keyword|deprecated|invalid|unknown|config file|ignor|syntax' "$1"
}
no_eqlogic_section() { ! grep -q 'vendor "EQLOGIC"' "$1"; }
hitachi_only() { no_eqlogic_section "$1" && device_section_live HITACHI "$ORIG/multipath.conf" "$1"; }
blacklist_live() { grep -q '3600508b1001c7a2b9e3f4d5c6b7a8f90' "$1" && grep -q 'LOGICAL VOLUME' "$1"; }
nodes_and_login() { lab_nodes_new equallogic && lab_login equallogic; }
contains() { [[ $1 == *"$2"* ]]; }
starts_with() { [[ $1 == "$2"* ]]; }
# no_created_files APPLY_OUTPUT: none of the files apply's plan said it would create exists (ifaces,
# the udev rule, EqualLogic's sysctl file...), and there were some
no_created_files() {
  local created; created=$(awk '/^\/[^ ]* \(create,/ {print $1}' "$1" | sort -u); echo "apply created: $created"
  [ -n "$created" ] && ! ls $created 2>/dev/null | grep .
}
same_owner_mode() { [ "$(stat -c '%U:%G %a' "$1")" = "$(stat -c '%U:%G %a' "$2")" ]; }

ORIG=/var/lib/lab/orig
mkdir -p "$ORIG"
say "reprovision: admin's multipath.conf + stock iscsid.conf, EqualLogic LUNs"
lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
check "LIO target: 2 LUNs with the equallogic identity" lab_target_setup equallogic 2 || lab_finish
lab_vendor equallogic

# the admin's file: tabs and spaces mixed, comments, a blacklist, another array
cat > /etc/multipath.conf <<'EOF'
# /etc/multipath.conf -- storage team, ticket OPS-1742
# Do not remove the HITACHI section: the backup LUNs of the old VSP still hang off this host.
defaults {
        user_friendly_names yes
        polling_interval    10
}

blacklist {
        devnode "^(ram|raw|loop|fd|md|sr|scd|st)[0-9]*"
        # the local RAID controller
        wwid "3600508b1001c7a2b9e3f4d5c6b7a8f90"
        device {
                vendor "HP"
                product "LOGICAL VOLUME"
        }
}

devices {
	# HITACHI VSP, as the vendor's guide says
	device {
		vendor "HITACHI"
		product "OPEN-.*"
		path_grouping_policy multibus
		path_checker tur
		path_selector "round-robin 0"
		no_path_retry 6
		rr_min_io_rq 100
	}
}
EOF
[ -f /etc/iscsi/iscsid.conf ] || { _record 1 "Debian's stock iscsid.conf present in the image" ""; lab_finish; }
cp -p /etc/multipath.conf "$ORIG/multipath.conf"; cp -p /etc/iscsi/iscsid.conf "$ORIG/iscsid.conf"
cp /etc/multipath.conf "$OUT/multipath.conf.admin"
# the admin's blocks, exactly as written (substring checks below)
hitachi=$(sed -n '/# HITACHI VSP/,/^\t}/p' /etc/multipath.conf)
blacklist=$(sed -n '/^blacklist {/,/^}/p' /etc/multipath.conf)
header=$(sed -n '1,2p' /etc/multipath.conf)
[ -n "$hitachi" ] && [ -n "$blacklist" ] || { _record 1 "admin blocks extracted" ""; lab_finish; }

check "sanpath installed in the guest" lab_sanpath_install || lab_finish
lab_site equallogic nc
check "iscsid started on the stock iscsid.conf" lab_iscsid_start
check "multipathd started on the admin's multipath.conf" lab_multipathd_start
multipathd show config > "$OUT/show-config-before.txt" 2>&1
check "before apply: multipathd has the admin's HITACHI section live" \
  device_section_live HITACHI "$ORIG/multipath.conf" "$OUT/show-config-before.txt"
check "before apply: no EQLOGIC device section (multipath-tools 0.9.4 has no built-in one)" \
  no_eqlogic_section "$OUT/show-config-before.txt"

expect_rc 2 plan-before.txt "sanpath plan on the admin's host: changes pending" sanpath plan
log_mark=$(wc -l < "$LAB_LOG/multipathd.log")
expect_rc 0 apply.txt "sanpath apply" sanpath apply
check "apply ran multipathd reconfigure" grep -q 'multipathd reconfigure: ok' "$OUT/apply.txt"
cp /etc/multipath.conf "$OUT/multipath.conf.applied"
diff -u "$ORIG/multipath.conf" /etc/multipath.conf > "$OUT/multipath.conf.diff"
new=$(cat /etc/multipath.conf)
# HITACHI's rr_min_io_rq 100 does nothing (the kernel resets a repeat count above 1): the plan warns
# on its line, and only the profile's own device section has such a key commented out
check "the admin's HITACHI device block is byte-identical after apply (its dead rr_min_io_rq 100 is only a plan warning)" contains "$new" "$hitachi"
check "the admin's blacklist block is byte-identical after apply" contains "$new" "$blacklist"
check "the admin's header comment is byte-identical after apply" starts_with "$new" "$header"
check "the plan warned about HITACHI's dead rr_min_io_rq 100 on its line" grep -q 'rr_min_io_rq 100 does nothing' "$OUT/apply.txt"
check "every admin line is still in the file, in order" lines_kept_in_order "$ORIG/multipath.conf" /etc/multipath.conf

wait_for 10 "tail -n +$((log_mark + 1)) $LAB_LOG/multipathd.log | grep -q 'reconfigure (operator)'"
tail -n +$((log_mark + 1)) "$LAB_LOG/multipathd.log" > "$OUT/multipathd-after-apply.log"
check "multipathd's log shows the reconfigure" grep -q 'reconfigure (operator)' "$OUT/multipathd-after-apply.log"
check "multipathd's log has no complaint about the applied file" no_config_complaint "$OUT/multipathd-after-apply.log"
check "multipath -t reads the applied file without a complaint" mpath_conf_clean
multipathd show config > "$OUT/show-config-after.txt" 2>&1
check "show config: the admin's HITACHI section is live" device_section_live HITACHI /etc/multipath.conf "$OUT/show-config-after.txt"
check "show config: the profile's EQLOGIC section is live" device_section_live EQLOGIC /etc/multipath.conf "$OUT/show-config-after.txt"
check "show config: the admin's blacklist is live" blacklist_live "$OUT/show-config-after.txt"
expect_rc 0 plan-after.txt "sanpath plan after apply: host matches" sanpath plan

# the new section is live: maps for the EqualLogic LUNs come up multibus
check "node records and login (Eucalyptus way)" nodes_and_login
udevadm settle --timeout=30
wait_for 120 "maps_ready 2"
multipath -ll > "$OUT/multipath-ll.txt" 2>&1; cat "$OUT/multipath-ll.txt"
check "2 maps with 2 active/ready paths each" maps_ready 2
for map in $(dmsetup ls --target multipath | awk '{print $1}' | sort); do
  check "$map: multibus from the EQLOGIC section: one group, both portals" map_groups_multibus "$map"
done

# rollback
log_mark=$(wc -l < "$LAB_LOG/multipathd.log")
expect_rc 0 rollback.txt "sanpath rollback" sanpath rollback
check "rollback: multipath.conf restored byte for byte" cmp "$ORIG/multipath.conf" /etc/multipath.conf
check "rollback: iscsid.conf restored byte for byte" cmp "$ORIG/iscsid.conf" /etc/iscsi/iscsid.conf
check "rollback: owner and mode of multipath.conf kept" same_owner_mode "$ORIG/multipath.conf" /etc/multipath.conf
check "rollback: the files apply created are gone (ifaces, udev rule, sysctl file)" no_created_files "$OUT/apply.txt"
wait_for 10 "tail -n +$((log_mark + 1)) $LAB_LOG/multipathd.log | grep -q 'reconfigure (operator)'"
multipathd show config > "$OUT/show-config-after-rollback.txt" 2>&1
check "rollback reconfigured multipathd: EQLOGIC section gone, HITACHI still live" \
  hitachi_only "$OUT/show-config-after-rollback.txt"
expect_rc 2 plan-after-rollback.txt "sanpath plan after rollback: changes pending again" sanpath plan
lab_finish
