#!/bin/bash
# Tests/Lab/scenarios/provision-equallogic.sh: provision a fresh Eucalyptus NC for equallogic storage with
# sanpath inside the lab guest, then log in the Eucalyptus way and check the maps it gets.
# EqualLogic is active/active without ALUA: the LIO LUNs report TPGS 0, and the profile's
# multibus policy must put both paths in one group (service-time 0).
# Body and checks: guest/provision.sh (provision_scenario equallogic after). Results: $OUT/checks.txt,
# $OUT/observations.txt (multipath -ll, paths, sessions), plan/apply outputs, show config.
# Run: Tests/Lab/run-suite provision-equallogic   (env NLUNS=2)
# lab-timeout: 360
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/provision.sh
provision_scenario equallogic after
