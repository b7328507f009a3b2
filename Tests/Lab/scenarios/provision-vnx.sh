#!/bin/bash
# Tests/Lab/scenarios/provision-vnx.sh: provision a fresh Eucalyptus NC for vnx storage with
# sanpath inside the lab guest, then log in the Eucalyptus way and check the maps it gets.
# EMC VNX in ALUA failover mode 4: two path groups with different prio, like NetApp. The
# profile asks for path_checker emc_clariion; observations.txt records which checker multipathd
# really uses on these LUNs and the path states it reports. On kernel 6.12 (the Debian 13 guest)
# the kernel has not read the ALUA states when the maps form, and on LIO nothing makes multipathd
# regroup: the checks say so there (guest/provision.sh alua_read_at_attach has the measurements).
# Body and checks: guest/provision.sh (provision_scenario vnx after). Results: $OUT/checks.txt,
# $OUT/observations.txt (multipath -ll, paths, sessions), plan/apply outputs, show config.
# Run: Tests/Lab/run-suite provision-vnx   (env NLUNS=2)
# lab-timeout: 360
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/provision.sh
provision_scenario vnx after
