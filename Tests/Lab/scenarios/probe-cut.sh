#!/bin/bash
# Tests/Lab/scenarios/probe-cut.sh: benchmark of the portal probe (opt-in). 2 equallogic LUNs x 2
# paths, `sanpath monitor` with monitor.toml's own portal-probe defaults (half-open SYN probes
# every 1 s, 500 ms timeout, a failed probe repeated at once). CUTS times (default 5), portal B's
# iSCSI traffic is dropped by nftables on the initiator (no link change: a dead switch port or
# array port), and the scenario polls (every 50 ms) for
#   - the daemon's portal-unreachable alert on its stdout sink: when the daemon knew;
#   - the kernel failing the path: the disk's path marked F in dm's status (iSCSI's noop-out
#     5 s + 5 s, then replacement_timeout 15 s of the equallogic profile, or multipathd's checker);
# then restores the path and waits until both paths are active again and the alert resolved.
# Target: the daemon knows <= 2 s after the cut, before dm fails the path.
# Also: the target's kernel log (netns tgt shares the guest's dmesg) must hold no "iSCSI Login
# negotiation failed" line from the probes: SYN probes never complete a connection.
# Results: probe-cut.txt (one line per cut, then medians and maxima), checks.txt.
# Run: Tests/Lab/run-suite probe-cut   (env CUTS=5)
# lab-suite: opt-in
# lab-timeout: 1200
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/monitor.sh
CUTS=${CUTS:-5}
R=$OUT/probe-cut.txt
out() { echo "$*" | tee -a "$R"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
# pct P FILE: nearest-rank percentile of the numbers in FILE (one a line)
pct() { sort -g "$2" | awk -v p="$1" '{ a[NR] = $1 } END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r] }'; }

monitor_stack equallogic 2
receiver_start
monitor_config "$MON_DIR/monitor.toml" defaults
cp "$MON_DIR/monitor.toml" "$OUT/monitor.toml"
monitor_start "$MON_DIR/monitor.toml"
check "sanpath monitor answers /healthz" http_get healthz || lab_finish
sleep 5
dmesg_before=$(dmesg | grep -c "iSCSI Login negotiation failed")
first=$(dmsetup ls --target multipath | awk '{print $1}' | sort | head -1)
disk=$(map_disk "$first" "$PORTAL_B")
out "# portal probe vs the kernel, $(date -u +%FT%TZ): portal $PORTAL_B cut by an nftables drop, $CUTS cuts, path $disk of $first"
out "environment: qemu accel=${LAB_ACCEL:-?}, $(nproc) vCPUs, kernel $(uname -r); portal probes: monitor.toml's defaults (method syn, interval 1s, timeout 500ms)"
: > "$OUT/daemon-ms" ; : > "$OUT/dm-ms"
is_portal=".kind == \"portal-unreachable\" and .state == \"firing\""
for ((i = 1; i <= CUTS; i++)); do
  mark=$(mon_mark)
  t0=$EPOCHREALTIME
  fail_path drop "$PORTAL_B"
  t_alert="" t_dm=""
  # poll both until each happened (60 s at most)
  while :; do
    now_=$EPOCHREALTIME
    [ -z "$t_alert" ] && tail -n +$((mark + 1)) "$MON_EVENTS" | grep -q '"portal-unreachable"' &&
      [ -n "$(mon_events "$mark" "$is_portal")" ] && t_alert=$now_
    [ -z "$t_dm" ] && [ "$(dm_path_state "$disk")" = F ] && t_dm=$now_
    [ -n "$t_alert" ] && [ -n "$t_dm" ] && break
    awk -v a="$t0" -v b="$now_" 'BEGIN { exit !(b - a > 60) }' && break
    sleep 0.05
  done
  a=$([ -n "$t_alert" ] && ms "$t0" "$t_alert" || echo none) d=$([ -n "$t_dm" ] && ms "$t0" "$t_dm" || echo none)
  out "cut $i: daemon alert (portal-unreachable) after $a ms; dm failed $disk after $d ms"
  [ "$a" != none ] && echo "$a" >> "$OUT/daemon-ms"
  [ "$d" != none ] && echo "$d" >> "$OUT/dm-ms"
  restore_path drop "$PORTAL_B"
  wait_for 90 "[ \"\$(dm_path_state $disk)\" = A ] && [ -n \"\$(mon_events $mark '.kind == \"portal-unreachable\" and .state == \"resolved\"')\" ]" ||
    out "cut $i: the path or the alert did not come back within 90 s"
  sleep 3
done
dmesg_after=$(dmesg | grep -c "iSCSI Login negotiation failed")
n_alert=$(grep -c . "$OUT/daemon-ms") n_dm=$(grep -c . "$OUT/dm-ms")
out "daemon knew: $n_alert of $CUTS cuts; p50 $(pct 50 "$OUT/daemon-ms") ms, max $(pct 100 "$OUT/daemon-ms") ms (goal <= 2000 ms after the cut: $(awk -v m="$(pct 100 "$OUT/daemon-ms")" -v n="$n_alert" -v c="$CUTS" 'BEGIN { print (n == c && m != "" && m <= 2000 ? "met" : "not met") }'))"
out "dm failed the path: $n_dm of $CUTS cuts; p50 $(pct 50 "$OUT/dm-ms") ms, max $(pct 100 "$OUT/dm-ms") ms (goal: the daemon first, before iSCSI's replacement timeout fails the path: $(awk -v a="$(pct 100 "$OUT/daemon-ms")" -v d="$(pct 0 "$OUT/dm-ms")" 'BEGIN { print (a != "" && d != "" && a < d ? "met" : "not met") }'))"
out "target's log, 'iSCSI Login negotiation failed' lines during the run: $((dmesg_after - dmesg_before))"
check "the daemon alerted on every cut" test "$n_alert" = "$CUTS"
check "the daemon knew <= 2 s after each cut (max $(pct 100 "$OUT/daemon-ms") ms)" test "$(pct 100 "$OUT/daemon-ms")" -le 2000
check "the daemon knew before dm failed the path, on every cut" \
  bash -c "paste -d' ' '$OUT/daemon-ms' '$OUT/dm-ms' | awk 'NF < 2 || \$1 >= \$2 { bad = 1 } END { exit bad }'"
check "the probes left no 'iSCSI Login negotiation failed' in the target's log" test "$((dmesg_after - dmesg_before))" = 0
lab_finish
