#!/bin/bash
# Tests/Lab/scenarios/bench-curve.sh: the curve of issue 13 item 5 (opt-in benchmark). For each
# size of SIZES (default "64 128 256 512") multipath maps x 2 paths, grown in steps in ONE boot:
#   - the daemon's full scan: sanpath_scan_duration_seconds of /metrics after SCANS (default 3)
#     SIGHUP-asked scans (as bench-monitor), median;
#   - `sanpath status --format json --no-probe`, `sanpath volume list --format json`,
#     `multipath -ll` and `multipathd show maps json`: process wall time, median of REPEAT (3);
#   - the idle RSS (VmRSS) of the daemon, and of multipathd beside it;
#   - where the daemon's RSS goes: its anonymous and file-backed RSS (smaps_rollup), and of its
#     heap what the program holds and what malloc keeps free (the last full scan's debug line);
#   - alert latency kernel -> webhook: CUTS (default 10) `dmsetup message MAP 0 "fail_path
#     MAJ:MIN"` cuts, the KERNEL[] stamp of the PATH_FAILED uevent (udevadm monitor) to the
#     receiver's receipt of the path-lost POST (as bench-monitor); p50 and max;
# then one table (curve.txt): each figure, its per-map cost and its ratio to the first size, and
# per column a verdict beside the goal "linear or better" (per-map cost at the largest size
# <= 1.25x the one at the smallest; else where it bends: the step whose per-map cost rose most).
#
# The stack at every size: NLIO (default 2) equallogic LIO iSCSI LUNs over the site's two
# portals (sessions, ifaces, NICs: the paths a site alert names, provisioned by `sanpath apply`)
# plus SIZE - NLIO scsi_debug LUNs on two scsi_debug hosts with vpd_use_hostno=0 (both hosts
# report the same device IDs, so each LUN is one WWID seen twice: real sd disks, real
# dm-multipath maps formed by the real multipathd through udev, find_multipaths smart), INQUIRY
# EQLOGIC/100E-00 so the equallogic profile's device section applies to them as well. Why not
# LIO for the bulk: under TCG, 64 LIO iSCSI LUNs x 2 paths took 256-437 s to form their maps
# (scale), every iSCSI disk costs a SCSI scan over a TCP session on top of udev's work; scsi_debug
# disks appear without a transport, and growing in steps (more LUNs per scsi_debug target, then
# more targets, then a host rescan) adds only the new maps at each size. The daemon alerts on any
# map's lost path (path-lost does not depend on the site's portals; only map-degraded and the
# path-count findings are for the site's maps), so cuts alternate between the LIO maps (session,
# portal and NIC in the alert) and scsi_debug maps (disk and map only); both kinds are reported.
# How long each size took to form is in stages.txt (and curve.txt).
# Results: curve.txt (the table), stages.txt, per size sN/ (scans.txt, t-*.txt, latency.txt,
#   udev-monitor.txt, cuts.txt, smaps-rollup-*.txt), webhook-received.txt, sanpath-monitor.log, checks.txt.
# Run: build and stage as run-suite does, then (as root)
#   Tests/Lab/run -q -t 2700 -m 3072 [-e SIZES="16 32"] [-e CUTS=10] -o $LAB_DIR/out/bench-curve $LAB_DIR/share scenarios/bench-curve.sh
#   To 256 maps (about 40 min under TCG; 512 needs about 40 min more, with -t 7200 -e BUDGET_S=6800):
#   Tests/Lab/run -q -t 4300 -m 3072 -e SIZES="64 128 256 512" -e BUDGET_S=3900 -e FORM_TIMEOUT=2400 -o … scenarios/bench-curve.sh
#   (or Tests/Lab/run-suite bench-curve for the defaults)
# lab-suite: opt-in
# lab-timeout: 2700
set -uo pipefail
source /lab/guest/lib.sh
source /lab/guest/monitor.sh
SIZES=${SIZES:-64 128 256 512} CUTS=${CUTS:-10} REPEAT=${REPEAT:-3} SCANS=${SCANS:-3} NLIO=${NLIO:-2}
FORM_TIMEOUT=${FORM_TIMEOUT:-900} STALL_S=${STALL_S:-900}
# guest time the payload may use (s, from its start): a size whose formation, estimated from the
# last step's time per added map, would not end within it is skipped and said so
# (DEADLINE, epoch seconds, lowers it to the time left until then by the guest's clock, which
# starts from the host's RTC)
BUDGET_S=${BUDGET_S:-1620} T_START=$(now)
if [ -n "${DEADLINE:-}" ] && [ "$(date +%s)" -gt 1700000000 ]; then
  left=$((DEADLINE - $(date +%s))); [ "$left" -lt "$BUDGET_S" ] && BUDGET_S=$left
  say "DEADLINE $(date -u -d "@$DEADLINE" +%T) UTC: guest budget BUDGET_S=$BUDGET_S s"
fi
C=$OUT/curve.txt S=$OUT/stages.txt
out() { echo "$*" >> "$C"; }
stage() { echo "$(printf '%-64s' "$1") $2 s" | tee -a "$S"; }
pct() { sort -g "$2" | awk -v p="$1" '{ a[NR] = $1 } END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r] }'; }
med() { pct 50 "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
: > "$S"

# ---- the site's LIO part and the daemon
t0=$(now)
monitor_stack equallogic "$NLIO"
stage "LIO: $NLIO equallogic LUNs x 2 paths, apply, daemons, login, maps ready" "$(since "$t0")"
bench_ext4() {  # the daemon runs from ext4 on a loop device, as in bench-monitor (not from the initramfs' tmpfs)
  modprobe loop && modprobe ext4 && truncate -s 400M /tmp/sanpath-ext4.img && mkfs.ext4 -q -F /tmp/sanpath-ext4.img &&
    mkdir -p /opt/sanpath && mount -o loop /tmp/sanpath-ext4.img /opt/sanpath && install -m 0755 /lab/bin/sanpath /opt/sanpath/sanpath &&
    sync && echo 3 > /proc/sys/vm/drop_caches
}
check "sanpath on ext4 (loop device) at /opt/sanpath" bench_ext4 || lab_finish
export PATH=/opt/sanpath:$PATH
san_hosts_start
check "SAN management hosts answer (netns tgt)" san_hosts_answer || lab_finish
receiver_start
check "webhook receiver on 127.0.0.1:$RX_PORT" bash -c ": > /dev/tcp/127.0.0.1/$RX_PORT" || lab_finish
monitor_config "$MON_DIR/monitor.toml" defaults
cp "$MON_DIR/monitor.toml" "$OUT/monitor.toml"
MON_NICE=-5 MON_ARGS=--verbose MON_LOG=$LAB_LOG/sanpath-monitor.log
monitor_start "$MON_DIR/monitor.toml"
check "sanpath monitor answers /healthz" http_get healthz || lab_finish
mpd=$(pgrep -x multipathd | head -1)

# ---- scsi_debug: the bulk
SD=/sys/bus/pseudo/drivers/scsi_debug
# sd_layout B: "TARGETS LUNS" with TARGETS x LUNS = B, LUNS <= SD_MAXLUNS (default 255, scsi_debug's
# runtime limit; a smaller one tries the growth by targets at small sizes)
SD_MAXLUNS=${SD_MAXLUNS:-255}
sd_layout() { local t; for ((t = 1; t <= 64; t++)); do ((${1} % t == 0 && ${1} / t <= SD_MAXLUNS)) && { echo "$t $((${1} / t))"; return 0; }; done; return 1; }
# the two hosts that carry the LUNs (the file holds their names: scsi_debug may have dummy hosts)
SD_HOSTS=/run/lab-scsi-debug-hosts
sd_hosts() { cat $SD_HOSTS 2>/dev/null; }
sd_disks() { local h b; for h in $(sd_hosts); do for b in /sys/class/scsi_host/$h/device/target*/*/block/*; do [ -e "$b" ] && echo "${b##*/}"; done; done; }
all_hosts() { ls $SD/adapter*/ -d 2>/dev/null | while read -r a; do ls -d "$a"host* 2>/dev/null | sed 's|.*/||'; done | sort; }
lowest_free_host() { ls /sys/class/scsi_host | sed 's/^host//' | sort -n | awk 'BEGIN { n = 0 } $1 == n { n++ } END { print n }'; }
# sd_grow B: B scsi_debug LUNs on each of the two hosts (load, or more LUNs/targets and a rescan).
# With vpd_use_hostno=0 scsi_debug claims implicit ALUA and reports its port's ALUA state as
# host_no % 3 (0 active/optimized, 1 active/non-optimized, 2 standby): scsi_dh_alua fails I/O to a
# standby path at once, and dm-multipath's multibus map then fails and reinstates that path for
# ever (seen in the lab: paths flapping, "I/O error ... flags 0x800"). So dummy hosts without
# targets come first until the first LUN host's number is 0 mod 3: its paths are optimized, the
# second host's non-optimized, both usable, as on an ALUA array with two port groups.
sd_grow() {
  local t l h before
  read -r t l <<< "$(sd_layout "$1")"
  [ -n "$l" ] || { echo "no layout of $1 LUNs as targets x <= 255 LUNs" >&2; return 1; }
  if [ ! -d $SD ]; then
    modprobe scsi_debug add_host=0 num_tgts="$t" max_luns="$l" vpd_use_hostno=0 dev_size_mb=1 \
      inq_vendor=EQLOGIC inq_product=100E-00 || return 1
    echo 0 > $SD/num_tgts || return 1
    while [ $(($(lowest_free_host) % 3)) != 0 ]; do echo 1 > $SD/add_host || return 1; done
    echo "dummy hosts (no targets): $(all_hosts | tr '\n' ' ')" >&2
    echo "$t" > $SD/num_tgts || return 1
    : > $SD_HOSTS
    for h in 1 2; do
      before=$(all_hosts)
      echo 1 > $SD/add_host || return 1
      comm -13 <(echo "$before") <(all_hosts) >> $SD_HOSTS
    done
  else
    echo "$l" > $SD/max_luns && echo "$t" > $SD/num_tgts || return 1
    for h in $(sd_hosts); do echo "- - -" > /sys/class/scsi_host/$h/scan || return 1; done
  fi
  echo "scsi_debug: $(cat $SD/num_tgts) targets x $(cat $SD/max_luns) LUNs x hosts $(sd_hosts | tr '\n' ' ')"
}
paths_ready() { multipathd show paths raw format '%m %t %T' 2>/dev/null | awk '$1 != "[orphan]" && $2 == "active" && $3 == "ready"' | wc -l; }
daemon_maps() { http_get metrics | grep -c '^sanpath_map_valid_paths{'; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
is_iscsi() { readlink -f "/sys/block/$1/device" | grep -q '/session[0-9]'; }
uev() {  # uev ACTION FILE: "STAMP MAP MAJ:MIN" of the dm uevents with DM_ACTION=ACTION
  awk -v want="$1" '/^KERNEL\[/ { ts = substr($1, 8, length($1) - 8); a = ""; p = ""; n = "" }
     /^DM_ACTION=/ { a = substr($0, 11) } /^DM_PATH=/ { p = substr($0, 9) } /^DM_NAME=/ { n = substr($0, 9) }
     /^$/ { if (a == want) print ts, n, p; a = "" }' "$2"
}
# cuts DIR: CUTS path cuts, alternating a LIO map (even) and a scsi_debug map (odd); DIR/latency.txt
cuts() {
  local d=$1 i map mm disk mark kind k r kr l umon lio=() sdm=() m s j
  for m in $(dmsetup ls --target multipath | awk '{print $1}' | sort -V); do
    s=$(ls /sys/block/"$(map_dm "$m")"/slaves | head -1)
    if is_iscsi "$s"; then lio+=("$m"); else sdm+=("$m"); fi
  done
  stdbuf -oL udevadm monitor --kernel --property --subsystem-match=block > "$d/udev-monitor.txt" 2>&1 &
  umon=$!
  sleep 2
  : > "$d/cuts.txt"
  for ((i = 0; i < CUTS; i++)); do
    j=$((i / 2))
    if [ $((i % 2)) = 0 ]; then kind=iscsi map=${lio[$((j % ${#lio[@]}))]}
    else kind=scsi_debug map=${sdm[$(((j * 7919) % ${#sdm[@]}))]}; fi  # spread over the scsi_debug maps
    disk=$(ls /sys/block/"$(map_dm "$map")"/slaves | sort | sed -n "$((j / ${#lio[@]} % 2 + 1))p")
    mm=$(cat /sys/block/$disk/dev)
    mark=$(grep -c . "$RX_FILE") up=$(uptime_s)
    dmsetup message "$map" 0 "fail_path $mm"
    rx_wait "$mark" firing "path-lost:$disk" 20 || say "cut $i: no firing alert for $disk"
    dmsetup message "$map" 0 "reinstate_path $mm" 2>/dev/null
    rx_wait "$mark" resolved "path-lost:$disk" 40 || say "cut $i: no resolved alert for $disk"
    echo "$i $kind $map $mm $disk $mark $up" >> "$d/cuts.txt"
  done
  sleep 1; kill $umon; wait $umon 2>/dev/null
  uev PATH_FAILED "$d/udev-monitor.txt" > "$d/kernel-failed.txt"
  uev PATH_REINSTATED "$d/udev-monitor.txt" > "$d/kernel-reinstated.txt"
  paste -d' ' <(cut -d' ' -f1 "$RX_FILE") <(cut -d' ' -f2- "$RX_FILE" | jq -r '.state + " " + .alertKey') |
    awk '$2 == "firing" { print $1, $3 }' > "$d/rx-firing.txt"
  : > "$d/latency.txt"; : > "$d/latency-s.txt"; : > "$d/latency-iscsi-s.txt"; : > "$d/latency-scsi_debug-s.txt"
  while read -r i kind map mm disk mark up; do
    # the first PATH_FAILED of that path after the cut began (/proc/uptime: 10 ms steps)
    k=$(awk -v n="$map" -v p="$mm" -v u="$up" '$2 == n && $3 == p && $1 >= u - 0.02 { print $1; exit }' "$d/kernel-failed.txt")
    r=$(tail -n +$((mark + 1)) "$RX_FILE" | cut -d' ' -f1 | paste -d' ' - <(tail -n +$((mark + 1)) "$RX_FILE" | cut -d' ' -f2- | jq -r '.state + " " + .alertKey') |
      awk -v key="path-lost:$disk" '$2 == "firing" && $3 == key { print $1; exit }')
    if [ -n "$k" ] && [ -z "$r" ]; then
      kr=$(awk -v n="$map" -v p="$mm" -v f="$k" '$2 == n && $3 == p && $1 > f { print $1; exit }' "$d/kernel-reinstated.txt")
      if [ -n "$kr" ] && awk -v a="$k" -v b="$kr" 'BEGIN { exit !(b - a < 1) }'; then
        echo "$i $kind $map $mm $disk kernel=$k reinstated-by-multipathd=$kr no-alert" >> "$d/latency.txt"; continue
      fi
    fi
    [ -n "$k" ] && [ -n "$r" ] || { echo "$i $kind $map $mm $disk kernel=${k:-none} receipt=${r:-none}" >> "$d/latency.txt"; continue; }
    l=$(awk -v a="$k" -v b="$r" 'BEGIN { printf "%.6f", b - a }')
    echo "$l" >> "$d/latency-s.txt"; echo "$l" >> "$d/latency-$kind-s.txt"
    echo "$i $kind $map $mm $disk kernel=$k receipt=$r latency_ms=$(ms "$l")" >> "$d/latency.txt"
  done < "$d/cuts.txt"
}

# table: curve.txt from the rows so far (rewritten after every size, so a run cut short by its
# time limit still leaves the sizes it finished)
table() {
  local size scan st vl ll smj rss mrss p50 pmax p50i p50s form stack c line v l names unit mult goal first lastsize
  : > "$C"
  out "# the curve: sanpath beside multipath-tools at $(cut -f1 "$ROWS" | tr '\n' ' ')maps x 2 paths, $(date -u +%FT%TZ)"
  out "sanpath: ${SANPATH_REV:-(build not named: pass -e SANPATH_REV=...)}"
  out "environment: qemu accel=${LAB_ACCEL:-?} (TCG = pure emulation), $(nproc) vCPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, kernel $(uname -r), multipath-tools $(dpkg-query -W -f '${Version}' multipath-tools); one boot, grown in steps"
  out "daemon: nice -n -5 sanpath monitor (ext4 on a loop device) --verbose, monitor.toml defaults + no flap damping, webhook to guest/labhttp.py; SCANS=$SCANS scans (SIGHUP), REPEAT=$REPEAT runs a command (medians), CUTS=$CUTS cuts a size"
  out "stack of each size:"
  while IFS=$'\t' read -r size _ _ _ _ _ _ _ _ _ _ _ form stack _; do out "  $(printf '%4s maps: %s; grown from the last size and formed (maps + paths ready) in %s s' "$size" "$stack" "$form")"; done < "$ROWS"
  [ -s "$OUT/skipped.txt" ] && while read -r l; do out "  $l"; done < "$OUT/skipped.txt"
  out ""
  # columns: 2 scan, 3 status, 4 volume list, 5 multipath -ll, 6 show maps json (s), 7 RSS (MB), 8 multipathd RSS, 9 alert p50 (s), 10 alert max,
  # (11, 12 the p50 by kind, 13 formation, 14 stack) 15 the daemon's malloc heap in use, 16 free chunks malloc keeps, 17 its anonymous RSS, 18 its file-backed RSS (MB)
  names=("" "" "daemon full scan" "sanpath status --format json --no-probe" "sanpath volume list --format json" "multipath -ll" "multipathd show maps json" "sanpath monitor idle RSS (VmRSS)" "multipathd RSS (VmRSS)" "alert latency kernel->webhook p50" "alert latency kernel->webhook max"
    "" "" "" "" "daemon malloc heap in use (mallinfo2)" "daemon heap kept free by malloc" "daemon anonymous RSS (smaps_rollup)" "daemon file-backed RSS (smaps_rollup)")
  unit=("" "" ms ms ms ms ms MB MB ms ms "" "" "" "" MB MB MB MB)
  mult=("" "" 1000 1000 1000 1000 1000 1 1 1000 1000 "" "" "" "" 1 1 1 1)
  goal=("" "" ">= 50x faster than multipath -ll (bench-monitor)" "-" "-" "(reference)" "(reference)" "<= 20 MB (bench-monitor)" "(reference)" "p99 <= 100 ms (bench-monitor; here p50 of $CUTS cuts)" "p99 <= 100 ms (bench-monitor; max of $CUTS cuts)"
    "" "" "" "" "(where the RSS goes)" "(where the RSS goes)" "(where the RSS goes)" "(where the RSS goes)")
  first=$(head -1 "$ROWS" | cut -f1) lastsize=$(tail -1 "$ROWS" | cut -f1)
  out "$(printf '%-46s %s' "figure (goal of the curve: linear or better)" "$(cut -f1 "$ROWS" | awk '{ printf "%28s", $1 " maps" }')")"
  out "$(printf '%-46s %s' "" "$(cut -f1 "$ROWS" | awk '{ printf "%28s", "value  per map  x" first }' first="$first")")"
  for c in 2 3 4 5 6 7 8 9 10 15 16 17 18; do
    line=$(awk -F'\t' -v c=$c -v m="${mult[$c]}" 'NR == 1 { v0 = $c * m; n0 = $1 } { v = $c * m; printf "%28s", sprintf("%.1f  %.3f  %.2fx", v, v / $1, (v0 > 0 ? v / v0 : 0)) }' "$ROWS")
    out "$(printf '%-46s %s' "${names[$c]} (${unit[$c]})" "$line")"
  done
  out ""
  out "verdicts (per-map cost at $lastsize maps vs at $first maps; linear or better when <= 1.25x; else the step where the per-map cost rose most):"
  for c in 2 3 4 5 6 7 8 9 10 15 16 17 18; do
    v=$(awk -F'\t' -v c=$c '
      { n[NR] = $1; p[NR] = ($1 > 0 ? $c / $1 : 0) } END {
        if (NR < 2) { print "one size only"; exit }
        r = (p[1] > 0 ? p[NR] / p[1] : 0)
        if (r <= 1.25) { printf "linear or better (per-map cost x%.2f from %d to %d maps)", r, n[1], n[NR]; exit }
        best = 2; for (i = 2; i <= NR; i++) if (p[i] / p[i - 1] > p[best] / p[best - 1]) best = i
        printf "bends between %d and %d maps (per-map cost x%.2f over that step; x%.2f from %d to %d maps)", n[best - 1], n[best], p[best] / p[best - 1], r, n[1], n[NR] }' "$ROWS")
    out "$(printf '  %-46s %-84s goal: linear or better; %s' "${names[$c]}" "$v" "${goal[$c]}")"
  done
  out ""
  out "beside the absolute goals, each size:"
  while IFS=$'\t' read -r size scan st vl ll smj rss mrss p50 pmax p50i p50s form stack _; do
    out "$(printf '  %4s maps: multipath -ll / daemon scan = %6.1fx (goal >= 50x), show maps json / daemon scan = %5.1fx; daemon RSS %.1f MB (goal <= 20 MB); alert p50 %s ms, max %s ms (goal p99 <= 100 ms); p50 by kind: LIO iSCSI %s ms, scsi_debug %s ms' \
      "$size" "$(awk -v a="$ll" -v b="$scan" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$(awk -v a="$smj" -v b="$scan" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$rss" \
      "$(ms "$p50")" "$(ms "$pmax")" "$(ms "$p50i")" "$(ms "$p50s")")"
  done < "$ROWS"
  out ""
  out "what the daemon did during each size's measurements (its --verbose lines; sN/daemon-work.txt: count, wall total and each, CPU, job):"
  while IFS=$'\t' read -r size _; do
    out "  $size maps:"
    grep -E 'full scan|full collection|multipathd asked|evaluated \((dm path event|full scan)\)' "$OUT/s$size/daemon-work.txt" 2>/dev/null | while read -r l; do out "    $l"; done
  done < "$ROWS"
  out ""
  out "marginal cost per added map between consecutive sizes (value(b) - value(a)) / (b - a):"
  for c in 2 3 4 5 6 7 8 9 10 15 16 17 18; do
    out "$(printf '  %-46s %s' "${names[$c]} (${unit[$c]})" "$(awk -F'\t' -v c=$c -v m="${mult[$c]}" 'NR > 1 { printf "  %d->%d: %.3f", n, $1, ($c - v) * m / ($1 - n) } { n = $1; v = $c }' "$ROWS")")"
  done
}

# ---- the curve
ROWS=$OUT/rows.tsv
: > "$ROWS"
for size in $SIZES; do
  d=$OUT/s$size; mkdir -p "$d"
  b=$((size - NLIO))
  if [ -n "${per_map:-}" ]; then
    est=$(awk -v p="$per_map" -v n="$((size - prev))" 'BEGIN { printf "%.0f", p * n * 1.15 + 150 }')
    left=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" -v t="$BUDGET_S" 'BEGIN { printf "%.0f", t - (b - a) }')
    if [ "$est" -gt "$left" ]; then
      say "size $size skipped: ~$est s estimated (formation at the last step's $per_map s per added map + measurements), $left s of BUDGET_S=$BUDGET_S left"
      echo "size $size: skipped, ~$est s estimated (last step: $per_map s of formation per added map), $left s of the guest budget BUDGET_S=$BUDGET_S left" >> "$OUT/skipped.txt"
      break
    fi
  fi
  say "size $size: $NLIO LIO + $b scsi_debug maps"
  t0=$(now)
  layout=$(sd_grow "$b") || { _record 1 "scsi_debug grown to $b LUNs x 2 hosts" ""; break; }
  stage "size $size: $layout" "$(since "$t0")"
  wait_for "$FORM_TIMEOUT" '[ "$(sd_disks | wc -l)" -ge $((2 * b)) ]'
  stage "size $size: $((2 * b)) scsi_debug disks present" "$(since "$t0")"
  last="" changed=$EPOCHREALTIME
  while :; do
    cur="$(nmaps) maps, $(paths_ready) active/ready paths"
    [ "$cur" != "$last" ] && { say "$cur (+$(since "$t0")s)"; last=$cur changed=$EPOCHREALTIME; }
    [ "$cur" = "$size maps, $((2 * size)) active/ready paths" ] && break
    # stalled: nothing new for 180 s while udev's queue is empty (udev works through a disk's add
    # event before multipathd hears of it: 0.7 s each under TCG, minutes for hundreds of disks),
    # or for STALL_S whatever udev does
    if awk -v a="$changed" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 180) }'; then
      if udevadm settle --timeout=0 2>/dev/null; then say "STALLED 180 s (udev queue empty) at: $cur"; break; fi
      awk -v a="$changed" -v b="$EPOCHREALTIME" -v t="$STALL_S" 'BEGIN { exit !(b - a > t) }' && { say "STALLED $STALL_S s at: $cur"; break; }
    fi
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v t="$FORM_TIMEOUT" 'BEGIN { exit !(b - a > t) }' && { say "gave up at: $cur"; break; }
    sleep 1
  done
  form=$(since "$t0")
  per_map=$(awk -v f="$form" -v n="$((size - ${prev:-$NLIO}))" 'BEGIN { printf "%.2f", f / n }') prev=$size
  stage "size $size: $size maps with 2 active/ready paths each (multipathd)" "$form"
  check "size $size: $size maps, each with 2 active/ready paths" maps_ready "$size" || break
  check "size $size: exactly $size maps, 2 paths each" bash -c "multipathd show maps raw format '%n %N' | awk '\$2 != 2 { bad = 1; print } END { exit bad || NR != $size }'" || break
  udevadm settle --timeout=120
  wait_for 120 '[ "$(daemon_maps)" = "$size" ]'
  stage "size $size: the daemon's /metrics has the $size maps" "$(since "$t0")"
  check "size $size: the daemon sees $size maps (/metrics sanpath_map_valid_paths)" bash -c '[ "$(http_get metrics | grep -c "^sanpath_map_valid_paths{")" = '"$size"' ]'
  sleep 5
  l0=$(grep -c . "$MON_LOG")
  bench_scans "$d/scans.txt" 90
  check "size $size: $SCANS daemon full scans measured" test "$(grep -c . "$d/scans.txt")" -ge "$SCANS"
  bench_timed "$d/t-status" sanpath status --format json --no-probe
  bench_timed "$d/t-volume-list" sanpath volume list --format json
  bench_timed "$d/t-multipath-ll" multipath -ll
  bench_timed "$d/t-show-maps-json" multipathd show maps json
  check "size $size: sanpath status lists $size maps" bash -c "[ \"\$(jq '.maps | length' '$d/t-status.out')\" = $size ]"
  check "size $size: sanpath volume list lists $size volumes" bash -c "[ \"\$(jq 'if type == \"array\" then length else (.volumes | length) end' '$d/t-volume-list.out')\" = $size ]"
  sleep 5
  drss=$(rss_kb "$MON_PID") mrss=$(rss_kb "$mpd")
  # where the daemon's RSS goes: anonymous (heap, stacks) and file-backed pages, and in the heap
  # what malloc holds for the program and what it keeps free (the last full scan's debug line)
  cp "/proc/$MON_PID/smaps_rollup" "$d/smaps-rollup-sanpath.txt"; cp "/proc/$mpd/smaps_rollup" "$d/smaps-rollup-multipathd.txt"
  danon=$(awk '/^Anonymous:/ { print $2 }' "$d/smaps-rollup-sanpath.txt") drssr=$(awk '/^Rss:/ { print $2 }' "$d/smaps-rollup-sanpath.txt")
  heap=$(jq -r 'select(.message == "full scan" and .heap_kb != null) | .heap_kb + " " + .heap_free_kb' "$MON_LOG" 2>/dev/null | tail -1)
  read -r heap_kb heap_free_kb <<< "${heap:-0 0}"
  cuts "$d"
  nl=$(grep -c . "$d/latency-s.txt")
  # what the daemon did during this size's measurements (its debug lines: count, wall, CPU by job)
  sed -n "$((l0 + 1)),\$p" "$MON_LOG" |
    jq -r 'select(.level == "debug") | [.message + (if .cause then " (" + .cause + ")" else "" end), (.ms // .total_ms // ""), (.cpu_ms // "-")] | @tsv' 2>/dev/null |
    awk -F'\t' '{ n[$1]++; t[$1] += $2; if ($3 != "-") { c[$1] += $3; h[$1] = 1 } } END { for (k in n) printf "%5d x  %9.1f ms wall (%8.1f each)  %9s ms CPU  %s\n", n[k], t[k], t[k] / n[k], (h[k] ? sprintf("%.1f", c[k]) : "-"), k }' |
    sort -k3 -rn > "$d/daemon-work.txt"
  check "size $size: a latency for most cuts ($nl of $CUTS; latency.txt)" test "$nl" -ge $((CUTS / 2))
  stack="$NLIO LIO iSCSI + $b scsi_debug ($layout)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" \
    "$(med "$d/scans.txt")" "$(med "$d/t-status")" "$(med "$d/t-volume-list")" "$(med "$d/t-multipath-ll")" "$(med "$d/t-show-maps-json")" \
    "$(awk -v k="$drss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$mrss" 'BEGIN { print k / 1024 }')" \
    "$(pct 50 "$d/latency-s.txt")" "$(pct 100 "$d/latency-s.txt")" "$(pct 50 "$d/latency-iscsi-s.txt")" "$(pct 50 "$d/latency-scsi_debug-s.txt")" \
    "$form" "$stack" "$(awk -v k="$heap_kb" 'BEGIN { print k / 1024 }')" "$(awk -v k="$heap_free_kb" 'BEGIN { print k / 1024 }')" \
    "$(awk -v k="${danon:-0}" 'BEGIN { print k / 1024 }')" "$(awk -v a="${drssr:-0}" -v k="${danon:-0}" 'BEGIN { print (a - k) / 1024 }')" >> "$ROWS"
  table
  say "size $size done: $(tail -1 "$ROWS" | cut -f1-12)"
done
cat "$C"

check "the curve has every size of SIZES ($(grep -c . "$ROWS") of $(wc -w <<< "$SIZES"))" test "$(grep -c . "$ROWS")" = "$(wc -w <<< "$SIZES")"
kill -TERM "$MON_PID"; wait "$MON_PID"
cp "$MON_LOG" "$OUT/sanpath-monitor.log"
lab_finish
