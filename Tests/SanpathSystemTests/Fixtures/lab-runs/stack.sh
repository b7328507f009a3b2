#!/bin/bash
# Payload: 1 EqualLogic-like LUN over two iSCSI paths (LIO target, iface0/ini0, iface1/ini1),
# multipathd with a minimal multipath.conf, then the SanpathSystem tests that need the real stack.
set -u
source /lab/lib.sh   # Tests/Lab/guest/lib.sh, staged by run-in-lab
lab_net_setup || exit 1
lab_target_setup equallogic 1 16 || exit 1
mkdir -p /etc/iscsi
cat > /etc/multipath.conf <<'CONF'
defaults {
    find_multipaths no
    user_friendly_names yes
    polling_interval 2
}
overrides {
    no_path_retry fail
}
CONF
lab_iscsid_start || exit 1
for i in 0 1; do
  iscsiadm -m iface -I iface$i -o new >/dev/null && iscsiadm -m iface -I iface$i -o update -n iface.net_ifacename -v ini$i >/dev/null || exit 1
done
lab_multipathd_start || exit 1
lab_nodes_new equallogic && lab_login equallogic || exit 1
udevadm settle --timeout=30
wait_for 90 "maps_ready 1" || { multipath -ll; exit 1; }
multipath -ll
B=$(cat /sys/block/$(portal_disks $PORTAL_B | head -1)/dev)
say "tests (map mpatha, path $B)"
# Two runs: the collection must see every path up, before the event test fails one.
cd /lab
rc=0
for filter in "DeviceMapperTests" "UdevTests|DMPathEventTests"; do
  SANPATH_LAB_STACK=1 SANPATH_LAB_MAP=mpatha SANPATH_LAB_PATH=$B LD_LIBRARY_PATH=/lab/lib ./sanpathPackageTests.xctest \
    --testing-library swift-testing --filter "$filter" >> $OUT/tests.txt 2>&1 || rc=1
done
sed 's/\x1b\[[0-9;]*m//g' $OUT/tests.txt | grep -E "✔|✘|➜|Test run|Expectation|error" | head -60
exit $rc
