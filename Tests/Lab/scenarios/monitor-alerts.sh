#!/bin/bash
# Tests/Lab/scenarios/monitor-alerts.sh: `sanpath monitor` against a real stack. NLUNS (default 4)
# equallogic LUNs x 2 paths on the lab NC provisioned by `sanpath apply`, two SAN management hosts
# (TCP listeners on 192.0.2.10 and .11 in netns tgt), the daemon with a webhook to a receiver in
# the guest (guest/labhttp.py) and the lab settings of guest/monitor.sh. Checks:
#   a. one disk of one map offline: exactly one alert (path-lost) naming that path, its iface,
#      NIC and portal, also after multipathd failed it and a resync; back to running: resolved
#   b. NIC ini1 down (it carries a path of every map): ONE alert, nic-down, naming all NLUNS
#      paths and maps, and still one after the sessions and paths behind it died; up: resolved
#   c. SAN host 192.0.2.10 dropped by nftables: san-host-unreachable (warning) and
#      san-host-failover to .11; traffic back: san-host-unreachable resolves
#   f. `sanpath status --format nagios`: 0 healthy, 1 with one path of each map down, 2 with none
#   h. multipathd killed (kill -9): ONE alert, multipathd-down (critical), no path/map/session
#      alerts two resyncs later; nagios CRITICAL; multipathd started again: resolved, nothing else
#   d. the webhook received every alert event the daemon printed on stdout (same ids)
#   e. /metrics is saved as metrics-*.prom; the host checks them with `promtool check metrics`
#      (scenarios/monitor-alerts.host, run by run-suite after the guest)
#   g. SIGTERM: the daemon exits 0 within 5 s
# Results: checks.txt, monitor-events.jsonl (daemon stdout), webhook-received.txt, metrics-*.prom,
#   status-*.json, nagios-*.txt, sanpath-monitor.log (daemon stderr), timeline.txt.
# Run: Tests/Lab/run-suite monitor-alerts   (env NLUNS=4 MONITOR_VENDOR=equallogic)
# lab-timeout: 480
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/monitor.sh
n=${NLUNS:-4} vendor=${MONITOR_VENDOR:-equallogic}
T=$OUT/timeline.txt
step() { say "$*"; echo "$(uptime_s) $*" >> "$T"; }

step "monitor-alerts: $n $vendor LUNs x 2 paths"
monitor_stack "$vendor" "$n"
san_hosts_start
check "SAN management hosts $SAN_HOST_A and $SAN_HOST_B answer on port $SAN_PORT (netns tgt)" san_hosts_answer || lab_finish
receiver_start
check "webhook receiver on 127.0.0.1:$RX_PORT" bash -c ": > /dev/tcp/127.0.0.1/$RX_PORT" || lab_finish
monitor_config "$MON_DIR/monitor.toml"
cp "$MON_DIR/monitor.toml" "$OUT/monitor.toml"; cp /etc/sanpath/site.toml "$OUT/site.toml"
step "starting sanpath monitor"
monitor_start "$MON_DIR/monitor.toml"
check "sanpath monitor answers /healthz" http_get healthz || { tail -30 "$LAB_LOG/sanpath-monitor.log"; lab_finish; }
# the probes need two rounds before a host or portal counts as up or down; let a resync pass too
sleep 3
http_get status > "$OUT/status-healthy.json"
check "healthy start: no alert printed, none firing" bash -c "[ ! -s '$MON_EVENTS' ] && [ -z \"\$(jq -r '.alerts[]?' '$OUT/status-healthy.json')\" ]"
maps=$(dmsetup ls --target multipath | awk '{print $1}' | sort)
first=$(echo "$maps" | head -1)

# ---- a. one path
disk=$(map_disk "$first" $PORTAL_B)
mark=$(mon_mark)
step "a. $disk ($first, portal $PORTAL_B) offline"
echo offline > "/sys/block/$disk/device/state"
t0=$(now)
is_path_alert=".kind == \"path-lost\" and (.paths | length) == 1 and .paths[0].device == \"$disk\" and .paths[0].map == \"$first\" and .paths[0].iface == \"iface1\" and .paths[0].nic == \"ini1\" and .paths[0].portal == \"$PORTAL_B:3260\""
check "a. path-lost fires for $disk ($first) via iface1/ini1 to $PORTAL_B:3260" mon_wait "$mark" ".state == \"firing\" and $is_path_alert" 40
step "a. fired after $(since "$t0") s; waiting for multipathd to fail the path in dm"
wait_for 60 '[ "$(dm_path_state "$disk")" = F ]'
step "a. dm: $disk is $(dm_path_state "$disk") ($(since "$t0") s)"
sleep 11  # one full resync after dm failed it
check "a. exactly one alert event while the path is down (the disk offline, then failed in dm, then a resync)" \
  bash -c "[ \"\$(mon_count $mark)\" = 1 ]; rc=\$?; tail -n +$((mark + 1)) '$MON_EVENTS'; exit \$rc"
mark_a=$mark
echo running > "/sys/block/$disk/device/state"
t0=$(now)
step "a. $disk running again"
check "a. the path-lost alert resolves when the path is back" mon_wait "$mark" ".state == \"resolved\" and $is_path_alert" 60
step "a. resolved after $(since "$t0") s"
check "a. two events in all: firing and resolved of path-lost:$disk" \
  bash -c "[ \"\$(mon_count $mark_a)\" = 2 ] && [ \"\$(mon_count $mark_a '.alertKey == \"path-lost:$disk\"')\" = 2 ]"

# ---- b. one NIC
wait_for 30 "maps_ready $n"
mark=$(mon_mark)
step "b. ini1 down"
ip link set ini1 down
t0=$(now)
nic_alert=".kind == \"nic-down\" and .alertKey == \"nic-down:ini1\""
check "b. nic-down fires for ini1" mon_wait "$mark" ".state == \"firing\" and $nic_alert" 40
step "b. nic-down fired after $(since "$t0") s"
check "b. the nic-down alert names the $n maps and their $n paths via iface1/ini1 to $PORTAL_B:3260" \
  bash -c "mon_events $mark '.state == \"firing\" and $nic_alert' | head -1 | tee /dev/stderr |
    jq -e --argjson n $n '(.maps | length) == \$n and (.paths | length) == \$n and ([.paths[] | select(.iface == \"iface1\" and .nic == \"ini1\" and .portal == \"$PORTAL_B:3260\")] | length) == \$n and ([.paths[].map] | unique | length) == \$n'"
# what follows a dead NIC: sessions time out (noop 10 s, then recovery_tmo), disks go
# transport-offline, multipathd fails every path behind it, the portal probe through ini1 fails
b_disks=$(map_disks_at $PORTAL_B)
wait_for 90 'dm_paths_in F $b_disks'
step "b. dm: paths via ini1: $(for d in $b_disks; do printf '%s=%s ' $d "$(dm_path_state $d)"; done)($(since "$t0") s); sessions: $(lab_sessions | awk '{print $4 "=" $7}' | tr '\n' ' ')"
sleep 11
http_get metrics > "$OUT/metrics-nic-down.prom"
http_get status > "$OUT/status-nic-down.json"
check "b. still ONE alert with the sessions, disks and paths behind ini1 down (no session-down, path-lost, portal-unreachable, map-degraded)" \
  bash -c "[ \"\$(mon_count $mark)\" = 1 ]; rc=\$?; tail -n +$((mark + 1)) '$MON_EVENTS'; exit \$rc"
check "b. /metrics: one nic-down alert firing, $n paths down" \
  bash -c "grep -q '^sanpath_alerts_firing{kind=\"nic-down\",severity=\"warning\"} 1' '$OUT/metrics-nic-down.prom' &&
    [ \"\$(grep -c '^sanpath_path_up{.*nic=\"ini1\".*} 0' '$OUT/metrics-nic-down.prom')\" = $n ]"
mark_b=$mark
mark=$(mon_mark)
ip link set ini1 up
t0=$(now)
step "b. ini1 up"
check "b. nic-down resolves when ini1 is back" mon_wait "$mark" ".state == \"resolved\" and $nic_alert" 60
step "b. nic-down resolved after $(since "$t0") s"
wait_for 120 "maps_ready $n"
step "b. maps ready again after $(since "$t0") s"
sleep 11
check "b. recovery raised no other alert (sessions log in again, multipathd reinstates the paths)" \
  bash -c "[ \"\$(mon_count $mark '.state == \"firing\"')\" = 0 ]; rc=\$?; tail -n +$((mark + 1)) '$MON_EVENTS'; exit \$rc"
check "b. nothing firing once every path is back" bash -c "[ -z \"\$(mon_firing)\" ]"

# ---- c. SAN management hosts
mark=$(mon_mark)
step "c. dropping traffic to SAN host $SAN_HOST_A:$SAN_PORT"
nft -f - <<EOF
table inet labsan {
  chain out { type filter hook output priority 0; ip daddr $SAN_HOST_A tcp dport $SAN_PORT drop; }
}
EOF
t0=$(now)
check "c. san-host-unreachable fires for $SAN_HOST_A (warning)" \
  mon_wait "$mark" ".state == \"firing\" and .kind == \"san-host-unreachable\" and .alertKey == \"san-host-unreachable:$SAN_HOST_A\" and .severity == \"warning\"" 30
check "c. san-host-failover fires: $SAN_HOST_A -> $SAN_HOST_B" \
  mon_wait "$mark" ".state == \"firing\" and .kind == \"san-host-failover\" and .alertKey == \"san-host-failover:$SAN_HOST_B\"" 30
step "c. fired after $(since "$t0") s"
check "c. no all-san-hosts-unreachable while $SAN_HOST_B answers" bash -c "[ \"\$(mon_count $mark '.kind == \"all-san-hosts-unreachable\"')\" = 0 ]"
nft delete table inet labsan
t0=$(now)
check "c. san-host-unreachable resolves when $SAN_HOST_A answers again" \
  mon_wait "$mark" ".state == \"resolved\" and .alertKey == \"san-host-unreachable:$SAN_HOST_A\"" 30
step "c. resolved after $(since "$t0") s"
# Eucalyptus skips a SAN host for 5 minutes after a failure: the failover stands until then
check "c. the failover stays firing (Eucalyptus keeps away from a failed host for 5 minutes)" bash -c "mon_firing | grep -qx 'san-host-failover:$SAN_HOST_B'"

# ---- f. Nagios check (one-shot; probes the SAN hosts itself)
nagios() { sanpath status --format nagios; }
expect_rc 0 nagios-healthy.txt "f. status --format nagios: OK when healthy" nagios
step "f. every disk via $PORTAL_B offline"
b_disks=$(map_disks_at $PORTAL_B); a_disks=$(map_disks_at $PORTAL_A)
for d in $b_disks; do echo offline > /sys/block/$d/device/state; done
wait_for 60 'dm_paths_in F $b_disks'
expect_rc 1 nagios-one-path.txt "f. status --format nagios: WARNING with one path of each map down" nagios
step "f. every disk via $PORTAL_A offline too"
for d in $a_disks; do echo offline > /sys/block/$d/device/state; done
wait_for 60 'dm_paths_in F $a_disks'
http_get status > "$OUT/status-no-path.json"
expect_rc 2 nagios-no-path.txt "f. status --format nagios: CRITICAL with no path left" nagios
for d in $a_disks $b_disks; do echo running > /sys/block/$d/device/state; done
wait_for 60 "maps_ready $n"
step "f. all disks running again"
check "f. every path alert resolves once the disks run again (only the failover of c stays)" \
  wait_for 60 '[ "$(mon_firing)" = "san-host-failover:$SAN_HOST_B" ]'

# ---- h. multipathd killed
wait_for 60 "maps_ready $n"
mark=$(mon_mark)
mpd=$(pidof multipathd)
step "h. kill -9 multipathd (pid $mpd)"
kill -9 $mpd
t0=$(now)
md_alert='.kind == "multipathd-down" and .alertKey == "multipathd-down:multipathd"'
check "h. multipathd-down fires (critical) when multipathd is killed" mon_wait "$mark" ".state == \"firing\" and $md_alert and .severity == \"critical\"" 40
step "h. multipathd-down fired after $(since "$t0") s"
sleep 21  # two resyncs with multipathd gone
http_get status > "$OUT/status-multipathd-down.json"
check "h. exactly ONE alert while multipathd is down, two resyncs later (no path, map or session alert)" \
  bash -c "[ \"\$(mon_count $mark)\" = 1 ]; rc=\$?; tail -n +$((mark + 1)) '$MON_EVENTS'; exit \$rc"
expect_rc 2 nagios-multipathd-down.txt "h. status --format nagios: CRITICAL with multipathd down" nagios
check "h. multipathd started again" lab_multipathd_start
t0=$(now)
check "h. multipathd-down resolves when multipathd answers again" mon_wait "$mark" ".state == \"resolved\" and $md_alert" 60
step "h. multipathd-down resolved after $(since "$t0") s"
wait_for 60 "maps_ready $n"
sleep 11  # a resync with multipathd back
check "h. two events in all: firing and resolved of multipathd-down, nothing else on the way or after" \
  bash -c "[ \"\$(mon_count $mark)\" = 2 ] && [ \"\$(mon_count $mark '$md_alert')\" = 2 ]; rc=\$?; tail -n +$((mark + 1)) '$MON_EVENTS'; exit \$rc"
check "h. only the failover of c still firing" bash -c "mon_firing; [ \"\$(mon_firing)\" = 'san-host-failover:$SAN_HOST_B' ]"

# ---- d, e, g
check "d. stdout has the kinds of every part: path-lost, nic-down, san-host-unreachable, san-host-failover, multipathd-down" \
  bash -c "for k in path-lost nic-down san-host-unreachable san-host-failover multipathd-down; do jq -r .kind '$MON_EVENTS' | grep -qx \$k || { echo \"no \$k\"; exit 1; }; done"
ids_out() { jq -r .id "$MON_EVENTS" | sort -u; }
ids_rx() { cut -d' ' -f2- "$RX_FILE" | jq -r .id | sort -u; }
wait_for 30 '[ "$(ids_out)" = "$(ids_rx)" ]'
check "d. the webhook received every event printed on stdout ($(ids_out | wc -l) ids), and nothing else" \
  bash -c "diff <(jq -r .id '$MON_EVENTS' | sort -u) <(cut -d' ' -f2- '$RX_FILE' | jq -r .id | sort -u)"
check "d. stdout printed each event once" bash -c "[ \"\$(jq -r .id '$MON_EVENTS' | sort | uniq -d)\" = '' ]"
http_get metrics > "$OUT/metrics-end.prom"
check "e. /metrics has the daemon's series (scan duration, events, outbox, paths)" \
  bash -c "grep -q '^sanpath_scan_duration_seconds ' '$OUT/metrics-end.prom' && grep -q '^sanpath_events_total{type=\"path-failed\"}' '$OUT/metrics-end.prom' &&
    grep -q '^sanpath_outbox_pending{sink=\"webhook:webhook-flag-1\"} 0' '$OUT/metrics-end.prom' && [ \"\$(grep -c '^sanpath_path_up{.*} 1' '$OUT/metrics-end.prom')\" = $((2 * n)) ]"
check "g. the daemon is still running before SIGTERM" kill -0 "$MON_PID"
t0=$(now)
kill -TERM "$MON_PID"
rc=0; timeout 20 bash -c "while kill -0 $MON_PID 2>/dev/null; do sleep 0.1; done" || rc=timeout
wait "$MON_PID"; mrc=$?
took=$(since "$t0")
step "g. sanpath monitor exited $mrc after SIGTERM in $took s"
check "g. SIGTERM: exit 0 within 5 s (exit $mrc after $took s)" \
  bash -c "[ '$rc' = 0 ] && [ '$mrc' = 0 ] && awk 'BEGIN { exit !($took <= 5) }'"
check "g. no error and no crash in the daemon's log" bash -c "! grep -E '\"level\":\"error\"|Fatal error|Segmentation fault|Illegal instruction' '$LAB_LOG/sanpath-monitor.log'"
kill "$RX_PID" 2>/dev/null
lab_finish
