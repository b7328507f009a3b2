#!/bin/bash
# Tests/Lab/scenarios/provision-netapp.sh: provision a fresh Eucalyptus NC for netapp storage with
# sanpath inside the lab guest, then log in the Eucalyptus way and check the maps it gets.
# NetApp ONTAP uses ALUA: portal A is in the active/optimized port group, portal B in the
# active/non-optimized one, so group_by_prio must give two path groups with different prio.
# iscsid and multipathd run BEFORE apply here: this is the scenario that proves apply's
# `multipathd reconfigure` makes the profile live (the built-in NETAPP entry says
# user_friendly_names no; the profile's yes must win after the reconfigure).
# Body and checks: guest/provision.sh (provision_scenario netapp before). Results: $OUT/checks.txt,
# $OUT/observations.txt (multipath -ll, paths, sessions), plan/apply outputs, show config.
# Run: Tests/Lab/run-suite provision-netapp   (env NLUNS=2)
# lab-timeout: 360
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/provision.sh
provision_scenario netapp before
