#!/bin/bash
# Tests/Lab/scenarios/package.sh (opt-in): the Debian package (scripts/build-deb) installs on the
# lab guest (Debian 12) with dpkg alone, its files are where the package says, and the installed
# sanpath, with the templates it finds in /usr/share/sanpath/templates (no SANPATH_TEMPLATES),
# provisions a NetApp NC and reports the maps with `sanpath status`.
# Run: scripts/build-deb && LAB_DEB=$(ls out/deb/sanpath_*.deb) Tests/Lab/run-suite package
# lab-suite: opt-in
# lab-timeout: 420
set -uo pipefail
source /lab/guest/lib.sh
deb=$(ls /lab/deb/sanpath_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { _record 1 "a package in the share (stage it with LAB_DEB=out/deb/sanpath_VERSION_ARCH.deb)" ""; lab_finish; }
check "dpkg -i $(basename "$deb") (its Depends are in the image)" dpkg -i "$deb"
check "the package's files: binary, templates, unit, conffile, man page, completions" \
  ls /usr/bin/sanpath /usr/share/sanpath/templates/profiles/netapp/profile.toml /lib/systemd/system/sanpath-monitor.service \
     /etc/sanpath/monitor.toml /usr/share/man/man1/sanpath.1.gz /usr/share/bash-completion/completions/sanpath
check "sanpath --version runs" /usr/bin/sanpath --version
unset SANPATH_TEMPLATES
lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
check "LIO target: 2 NetApp LUNs" lab_target_setup netapp 2 || lab_finish
lab_site netapp nc
rm -f /etc/multipath.conf /etc/iscsi/iscsid.conf
expect_rc 0 apply.txt "the installed sanpath applies the netapp profile with its own templates" /usr/bin/sanpath apply
check "iscsid started" lab_iscsid_start
check "multipathd started" lab_multipathd_start
check "node records made the Eucalyptus way" lab_nodes_new netapp
check "login through both paths" lab_login netapp
wait_for 120 "maps_ready 2"
expect_rc 0 status.txt "sanpath status on the installed package: exit 0" /usr/bin/sanpath status --no-probe
check "status names both maps [status.txt]" bash -c "grep -c mpath '$OUT/status.txt' | awk '\$1 >= 2 {ok = 1} END {exit !ok}'"
expect_rc 0 nagios.txt "status --format nagios: OK" /usr/bin/sanpath status --no-probe --format nagios
check "dpkg -r removes the binary, keeps the conffile" bash -c "dpkg -r sanpath >/dev/null && [ ! -e /usr/bin/sanpath ] && [ -e /etc/sanpath/monitor.toml ]"
lab_finish
