# Tests/Lab/guest/monitor.sh: helpers of the `sanpath monitor` scenarios (monitor-alerts,
# bench-monitor), sourced inside the guest after guest/lib.sh; not a command.
#
#   monitor_stack VENDOR N      the lab NC with N LUNs x 2 paths, provisioned by `sanpath apply`,
#                               iscsid + multipathd running, logged in, every map active/ready
# The *_start functions start background processes and set their PIDs: call them directly, not
# through `check` (which runs its command in a subshell), and check the result afterwards.
#   san_hosts_start             two SAN management hosts ($SAN_HOST_A, $SAN_HOST_B, TCP port
#                               $SAN_PORT) on extra addresses of tgt0 in netns tgt, and the site's
#                               sanhost line naming them
#   receiver_start              the webhook receiver (labhttp.py serve) on 127.0.0.1:$RX_PORT, one
#                               line per POST in $RX_FILE: "<CLOCK_MONOTONIC s> <body>"
#   monitor_config FILE [lab|defaults]  the daemon's settings: lab = resync every 10 s, short `for`
#                               of the SAN host kinds and probes every 1-2 s; defaults = monitor.toml's timings;
#                               both: no flap damping, state database in $MON_DIR, port $MON_PORT
#   monitor_start CONFIG        `sanpath monitor` in the background (at nice $MON_NICE when set, with
#                               the extra arguments $MON_ARGS, e.g. --verbose): stdout (the alert JSON lines)
#                               in $MON_EVENTS, stderr in $LAB_LOG/sanpath-monitor.log; waits for
#                               /healthz; $MON_PID
#   mon_mark / mon_events MARK [JQ] / mon_wait MARK JQ TIMEOUT / mon_count MARK JQ
#                               the events printed after a mark (a line count), filtered by a jq
#                               condition; waiting for one
#   http_get PATH               GET http://127.0.0.1:$MON_PORT/PATH (body on stdout, 1 if not 2xx)
#   map_dm MAP / map_disk MAP PORTAL / map_disks_at PORTAL / dm_path_state DISK / dm_paths_in S DISK...
#                               the map's dm-N; its disk on a portal; every map disk on a portal;
#                               A or F for a disk in its map's dm status; whether all are in S
# The query helpers are exported, for `check NAME bash -c '...'`.

MON_PORT=9478 RX_PORT=9099 SAN_PORT=8443
SAN_HOST_A=192.0.2.10 SAN_HOST_B=192.0.2.11
MON_DIR=/var/lib/lab-monitor
MON_EVENTS=$OUT/monitor-events.jsonl
RX_FILE=$OUT/webhook-received.txt
LABHTTP="python3 -I /lab/guest/labhttp.py"

monitor_stack() {
  local vendor=$1 n=$2 t0
  lab_net_setup || { _record 1 "guest network setup" ""; lab_finish; }
  check "LIO target: $n $vendor LUNs" lab_target_setup "$vendor" "$n" 16 || lab_finish
  rm -f /etc/multipath.conf /etc/iscsi/iscsid.conf
  check "sanpath installed in the guest" lab_sanpath_install || lab_finish
  lab_site "$vendor" nc
  expect_rc 0 apply.txt "sanpath apply ($vendor nc profile)" sanpath apply || lab_finish
  check "iscsid started" lab_iscsid_start || lab_finish
  check "multipathd started" lab_multipathd_start || lab_finish
  check "node records" lab_nodes_new "$vendor" || lab_finish
  t0=$(now)
  check "login through both paths" lab_login "$vendor" || lab_finish
  wait_for 600 "maps_ready $n"
  say "maps: $(nmaps), $(since "$t0")s after login"
  check "$n maps, each with 2 active/ready paths" maps_ready "$n" || lab_finish
}

san_hosts_start() {
  ip -n tgt addr add $SAN_HOST_A/24 dev tgt0 && ip -n tgt addr add $SAN_HOST_B/24 dev tgt0 || return 1
  ip netns exec tgt $LABHTTP serve /dev/null $SAN_HOST_A:$SAN_PORT $SAN_HOST_B:$SAN_PORT >> "$LAB_LOG/san-hosts.log" 2>&1 &
  echo "sanhost = \"$SAN_HOST_A:$SAN_PORT,$SAN_HOST_B:$SAN_PORT\"" >> /etc/sanpath/site.toml
  wait_for 60 san_hosts_answer
}
san_hosts_answer() { bash -c ": > /dev/tcp/$SAN_HOST_A/$SAN_PORT && : > /dev/tcp/$SAN_HOST_B/$SAN_PORT"; }

receiver_start() {
  : > "$RX_FILE"
  $LABHTTP serve "$RX_FILE" 127.0.0.1:$RX_PORT >> "$LAB_LOG/webhook-receiver.log" 2>&1 &
  RX_PID=$!
  wait_for 60 "bash -c ': > /dev/tcp/127.0.0.1/$RX_PORT'"
}

monitor_config() {
  local file=$1 kind=${2:-lab}
  mkdir -p "$MON_DIR"
  {
    echo "# sanpath monitor settings of the lab ($kind); keys not given keep etc/sanpath/monitor.toml's defaults"
    if [ "$kind" = lab ]; then echo 'resync_interval = "10s"'; echo 'multipathd_interval = "10s"'; fi
    echo 'udev_source = "kernel"'
    printf '\n[state]\ndatabase = "%s"\n' "$MON_DIR/monitor.sqlite"
    if [ "$kind" = lab ]; then
      # SAN host alerts after 2 s instead of 30 s, probes every 1-2 s: short scenarios
      printf '\n[san_hosts]\ninterval = "1s"\ntimeout = "500ms"\n'
      printf '\n[portal_probes]\nenabled = true\ninterval = "2s"\ntimeout = "1s"\n'
      printf '\n[alerts.for]\nsan-host-unreachable = "2s"\nall-san-hosts-unreachable = "2s"\nsan-host-failover = "2s"\n'
    fi
    # no flap damping: the scenarios cut paths many times on purpose
    printf '\n[alerts.flap]\nmax_transitions = 1000\n'
    printf '\n[http]\nlisten = "127.0.0.1:%s"\n' "$MON_PORT"
  } > "$file"
}

monitor_start() {
  : > "$MON_EVENTS"
  ${MON_NICE:+nice -n "$MON_NICE"} sanpath monitor --config "$1" ${MON_ARGS:-} --webhook "http://127.0.0.1:$RX_PORT/alerts" > "$MON_EVENTS" 2>> "$LAB_LOG/sanpath-monitor.log" &
  MON_PID=$!
  wait_for 60 'http_get healthz'
}

http_get() { $LABHTTP get "http://127.0.0.1:$MON_PORT/$1"; }

mon_mark() { wc -l < "$MON_EVENTS"; }
# mon_events MARK [JQ_CONDITION]: events after MARK, compact JSON, one a line
mon_events() { tail -n +$(($1 + 1)) "$MON_EVENTS" | jq -c "select(${2:-true})" 2>/dev/null; }
mon_count() { mon_events "$1" "${2:-true}" | grep -c .; }
# mon_wait MARK JQ_CONDITION TIMEOUT_S: until such an event is printed; 1 after the timeout
mon_wait() {
  local start=$EPOCHREALTIME
  until [ -n "$(mon_events "$1" "$2")" ]; do
    awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$3" 'BEGIN { exit !(b - a > t) }' && return 1
    sleep 0.2
  done
}
# mon_firing: alert keys firing now, from /status
mon_firing() { http_get status | jq -r '.alerts[]?.alertKey' | sort; }

map_dm() { basename "$(readlink -f "/dev/mapper/$1")"; }
map_disk() { local s; for s in /sys/block/"$(map_dm "$1")"/slaves/*; do [ "$(disk_portal "${s##*/}")" = "$2" ] && echo "${s##*/}"; done; }
map_disks_at() { local m; for m in $(dmsetup ls --target multipath | awk '{print $1}' | sort); do map_disk "$m" "$1"; done; }
# dm_paths_in STATE DISK...: every DISK is in STATE (A or F) in its map's dm status
dm_paths_in() { local want=$1 d; shift; for d in "$@"; do [ "$(dm_path_state "$d")" = "$want" ] || return 1; done; }
# dm_path_state DISK: A or F, from the dm status of the map holding DISK
dm_path_state() {
  local dm mm
  dm=$(ls /sys/block/"$1"/holders | head -1); mm=$(cat /sys/block/"$1"/dev)
  dmsetup status "$(cat /sys/block/"$dm"/dm/name)" | awk -v mm="$mm" '{ for (i = 1; i < NF; i++) if ($i == mm) { print $(i + 1); exit } }'
}

export MON_EVENTS RX_FILE MON_PORT LABHTTP
export -f http_get mon_mark mon_events mon_count mon_wait mon_firing map_dm map_disk map_disks_at dm_paths_in dm_path_state disk_portal

# ---- the bench scenarios' shared measurements (bench-monitor, bench-curve)
scan_value() { http_get metrics | awk '$1 == "sanpath_scan_duration_seconds" { print $2 }'; }
# bench_scans FILE TIMEOUT_S: SCANS daemon scans asked for by SIGHUP, each scan's
# sanpath_scan_duration_seconds a line. A reload scans at once, but only a changed file is applied,
# so each round adds or removes a resync_interval of 61 s; a scan not seen within TIMEOUT_S is left out
bench_scans() {
  local i t0 v last
  : > "$1"
  last=$(scan_value)
  for ((i = 0; i < SCANS; i++)); do
    if grep -q '^resync_interval = "61s"' "$MON_DIR/monitor.toml"; then sed -i '/^resync_interval = "61s"/d' "$MON_DIR/monitor.toml"
    else sed -i '1a resync_interval = "61s"' "$MON_DIR/monitor.toml"; fi
    kill -HUP "$MON_PID"
    t0=$EPOCHREALTIME
    sleep 1
    until v=$(scan_value); [ -n "$v" ] && [ "$v" != "$last" ]; do
      awk -v a="$t0" -v b="$EPOCHREALTIME" -v t="$2" 'BEGIN { exit !(b - a > t) }' && break
      sleep 0.5
    done
    [ -n "$v" ] && [ "$v" != "$last" ] && { echo "$v" >> "$1"; last=$v; }
    sleep 1
  done
}
# bench_timed FILE CMD...: a first run (its output kept in FILE.out), then REPEAT timed runs, the
# wall time in seconds a line in FILE
bench_timed() {
  local file=$1 i s; shift
  : > "$file"
  "$@" > "$file.out" 2>&1
  for ((i = 0; i < REPEAT; i++)); do s=$EPOCHREALTIME; "$@" >/dev/null 2>&1; awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }' >> "$file"; done
}
# rx_has MARK STATE KEY: the receiver got an event in STATE for KEY after line MARK
rx_has() { tail -n +$(($1 + 1)) "$RX_FILE" | grep -F "\"state\":\"$2\"" | grep -qF "\"alertKey\":\"$3\""; }
rx_wait() {  # rx_wait MARK STATE KEY TIMEOUT: look after 1 s, then every 0.2 s (little CPU beside the daemon)
  local start=$EPOCHREALTIME
  sleep 1
  until rx_has "$1" "$2" "$3"; do
    awk -v a="$start" -v b="$EPOCHREALTIME" -v t="$4" 'BEGIN { exit !(b - a > t) }' && return 1
    sleep 0.2
  done
}
