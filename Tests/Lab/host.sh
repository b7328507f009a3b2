# Tests/Lab/host.sh: host-side steps shared by Tests/Lab/run-suite and Tests/Lab/capture-fixtures
# (source it from bash; not a command). Each step prints one timing line to stderr.
#   lab_host_packages  apt-get install the host tools (qemu-system-x86 qemu-utils debootstrap kmod
#                      cpio xz-utils zstd, --no-install-recommends); apt-get update only if needed
#   lab_require_qemu   exit 77 LOUDLY when qemu cannot run here (or the image cannot be built)
#   lab_build_image    Tests/Lab/build-image (cached in $LAB_DIR)
#   lab_build_sanpath  the sanpath the guest runs: LAB_SANPATH_BUILD=release (default) is
#                      swift build -c release --static-swift-stdlib --product sanpath
#                      --scratch-path .build-lab (repo root); LAB_SANPATH_BUILD=debug is the
#                      debug build `swift test` already made (.build/debug, staged with the
#                      Swift runtime libraries it links): CI uses it to skip a second full build
#   lab_stage          lay out the guest's read-only share $LAB_DIR/share: bin/sanpath,
#                      templates/, guest/, scenarios/
#   lab_sysfs_acyclic  make a captured sysfs mirror free of symlink loops (fixtures)
# Variables: LAB_REPO (repository root), LAB_HERE (Tests/Lab), LAB_DIR (default $LAB_REPO/.lab),
# LAB_SHARE ($LAB_DIR/share). LAB_SKIP_APT=1 skips the apt step.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_HERE/../.." && pwd)
export LAB_DIR=${LAB_DIR:-$LAB_REPO/.lab$([ "${LAB_SUITE:-bookworm}" = bookworm ] || echo "-$LAB_SUITE")}
mkdir -p "$LAB_DIR"; LAB_DIR=$(cd "$LAB_DIR" && pwd)
LAB_SHARE=$LAB_DIR/share
LAB_SKIP_RC=77

lab_log() { echo "lab: $*" >&2; }
lab_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# lab_skip REASON...: the loud "cannot run here" exit (77), so a caller reports SKIPPED, not passed
lab_skip() {
  {
    echo
    echo "##########################################################################"
    echo "##  LAB SKIPPED: THE REAL-STACK LAB CANNOT RUN ON THIS MACHINE"
    for l in "$@"; do echo "##  $l"; done
    echo "##  Nothing was tested. Exit code $LAB_SKIP_RC: report this run as SKIPPED."
    echo "##########################################################################"
    echo
  } | tee /dev/stderr
  exit $LAB_SKIP_RC
}

lab_host_packages() {
  [ "${LAB_SKIP_APT:-}" = 1 ] && return 0
  local t0=$EPOCHREALTIME pkgs="qemu-system-x86 qemu-utils debootstrap kmod cpio xz-utils zstd"
  [ "$(id -u)" = 0 ] || { lab_log "not root: skipping apt-get install ($pkgs)"; return 0; }
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs > "$LAB_DIR/apt.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >> "$LAB_DIR/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs >> "$LAB_DIR/apt.log" 2>&1 ||
      { tail -5 "$LAB_DIR/apt.log" >&2; lab_log "apt-get install failed (see $LAB_DIR/apt.log)"; return 1; }
  fi
  lab_log "host packages: ok ($(lab_elapsed "$t0")s)"
}

lab_require_qemu() {
  command -v qemu-system-x86_64 >/dev/null ||
    lab_skip "qemu-system-x86_64 is not installed and apt could not install it."
  # qemu must at least start a machine: -S keeps it paused, so 124 (killed by timeout) is success
  local rc=0
  timeout 3 qemu-system-x86_64 -machine q35,accel=tcg -nodefaults -no-user-config -display none \
    -monitor none -serial none -S -m 64 </dev/null > "$LAB_DIR/qemu-probe.log" 2>&1 || rc=$?
  [ "$rc" = 124 ] || lab_skip "qemu-system-x86_64 cannot start a machine here (exit $rc):" \
    "$(head -c 300 "$LAB_DIR/qemu-probe.log" | tr '\n' ' ')"
  if [ ! -f "$LAB_DIR/initrd.img" ] && [ "$(id -u)" != 0 ]; then
    lab_skip "no cached guest image in $LAB_DIR and not root: build-image needs root (debootstrap)."
  fi
}

lab_build_image() {
  local t0=$EPOCHREALTIME
  "$LAB_HERE/build-image" || { lab_log "build-image FAILED"; return 1; }
  lab_log "build-image: ok ($(lab_elapsed "$t0")s)"
}

lab_build_sanpath() {
  local t0=$EPOCHREALTIME
  command -v swift >/dev/null || { lab_log "swift not on PATH: cannot build sanpath for the guest"; return 1; }
  case ${LAB_SANPATH_BUILD:-release} in
    debug)
      (cd "$LAB_REPO" && swift build --product sanpath) > "$LAB_DIR/swift-build.log" 2>&1 ||
        { tail -30 "$LAB_DIR/swift-build.log" >&2; lab_log "swift build FAILED"; return 1; }
      LAB_SANPATH_BIN=$(cd "$LAB_REPO" && swift build --show-bin-path)/sanpath
      lab_log "sanpath (debug, Swift runtime staged beside it): ok ($(lab_elapsed "$t0")s)" ;;
    release)
      (cd "$LAB_REPO" && swift build -c release --static-swift-stdlib --product sanpath --scratch-path .build-lab) \
        > "$LAB_DIR/swift-build.log" 2>&1 || { tail -30 "$LAB_DIR/swift-build.log" >&2; lab_log "swift build FAILED"; return 1; }
      LAB_SANPATH_BIN=$LAB_REPO/.build-lab/release/sanpath
      lab_log "sanpath (release, static Swift stdlib): ok ($(lab_elapsed "$t0")s)" ;;
    *) lab_log "LAB_SANPATH_BUILD must be release or debug"; return 1 ;;
  esac
}

lab_stage() {
  local bin=${LAB_SANPATH_BIN:-$LAB_REPO/.build-lab/release/sanpath}
  [ -x "$bin" ] || { lab_log "missing $bin (lab_build_sanpath)"; return 1; }
  # not while a guest (maybe another session's) reads the share: take the guest lock of `run`
  (
    flock 9
    mkdir -p "$LAB_SHARE/bin"
    rm -rf "$LAB_SHARE/guest" "$LAB_SHARE/scenarios" "$LAB_SHARE/templates"
    cp -a "$LAB_HERE/guest" "$LAB_HERE/scenarios" "$LAB_SHARE/"
    cp -a "$LAB_REPO/templates" "$LAB_SHARE/templates"
    # stripped copy: less to read over 9p
    cp "$bin" "$LAB_SHARE/bin/sanpath.tmp" && { strip "$LAB_SHARE/bin/sanpath.tmp" 2>/dev/null || true; } &&
      mv "$LAB_SHARE/bin/sanpath.tmp" "$LAB_SHARE/bin/sanpath"
    # a debug build links the toolchain's Swift runtime: stage those libraries (guest/lib.sh
    # installs them with ldconfig)
    rm -rf "$LAB_SHARE/lib"
    local runtime
    runtime=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /\/swift\// {print $3}')
    if [ -n "$runtime" ]; then mkdir -p "$LAB_SHARE/lib" && cp $runtime "$LAB_SHARE/lib/"; fi
    # a Debian package for the opt-in `package` scenario (LAB_DEB=out/deb/sanpath_*.deb)
    rm -rf "$LAB_SHARE/deb"
    if [ -n "${LAB_DEB:-}" ]; then mkdir -p "$LAB_SHARE/deb" && cp "$LAB_DEB" "$LAB_SHARE/deb/"; fi
  ) 9>"${LAB_GUEST_LOCK:-/tmp/sanpath-lab-guest.lock}" || return 1
  # every shared library sanpath needs must be in the guest's rootfs (add its package to build-image)
  local lib missing=""
  for lib in $(ldd "$LAB_SHARE/bin/sanpath" | awk '$2 == "=>" {print $1}'); do
    [ -e "$LAB_SHARE/lib/$lib" ] && continue
    ls "$LAB_DIR/rootfs/usr/lib/x86_64-linux-gnu/$lib" "$LAB_DIR/rootfs/lib/x86_64-linux-gnu/$lib" >/dev/null 2>&1 || missing="$missing $lib"
  done
  [ -z "$missing" ] || { lab_log "sanpath needs libraries the guest image lacks:$missing (add their packages to build-image)"; return 1; }
}

# lab_sysfs_acyclic STATE_DIR: STATE_DIR/sys is a faithful sysfs mirror (guest/capture.sh), which,
# like sysfs, has symlink loops (a disk's `device` link points to an ancestor, slaves/ and
# holders/ point at each other). SwiftPM copies test resources following symlinks and never ends
# on a loop, so the fixtures must have none. Every original link is first listed in
# STATE_DIR/sys-links.txt ("path -> target", as sysfs had it); then:
#   block/X                 becomes a real folder with X's attributes; its `device` link points
#                           straight at the SCSI device folder under devices/ (same realpath as
#                           in sysfs); slaves/ and holders/ entries become empty files (names only)
#   class/scsi_device/X     becomes a real folder whose `device` link points at the SCSI device
#   class/iscsi_session/S   stays a link; the `device` link inside it (an ancestor) is dropped
# and the folders the loops ran through are removed. Fails if any loop is left.
lab_sysfs_acyclic() {
  local st=$1 sys=$1/sys e real dev rel f
  ( cd "$sys" && find . -type l -printf '%P -> %l\n' | LC_ALL=C sort ) > "$st/sys-links.txt"
  for e in "$sys"/block/* "$sys"/class/scsi_device/*; do
    [ -L "$e" ] || continue
    real=$(readlink -f "$e")
    dev=""; [ -L "$real/device" ] && dev=$(readlink -f "$real/device")
    rm "$e"; mkdir "$e"
    for f in "$real"/*; do
      case ${f##*/} in
        device) ;;
        slaves|holders) mkdir -p "$e/${f##*/}"; for l in "$f"/*; do [ -e "$l" ] || [ -L "$l" ] && : > "$e/${f##*/}/${l##*/}"; done ;;
        *) cp -a "$f" "$e/" ;;
      esac
    done
    if [ -n "$dev" ]; then rel=$(realpath -m --relative-to="$e" "$dev"); ln -s "$rel" "$e/device"; fi
    rm -rf "$real"
    rmdir -p "$(dirname "$real")" 2>/dev/null || true
  done
  for e in "$sys"/class/iscsi_session/*; do
    real=$(readlink -f "$e"); [ -L "$real/device" ] && rm "$real/device"
  done
  if find -L "$sys" -type d 2>&1 >/dev/null | grep -q 'loop'; then lab_log "sysfs mirror $sys still has a symlink loop"; return 1; fi
  if find -L "$sys" -type l | grep -q .; then lab_log "sysfs mirror $sys has dangling links:"; find -L "$sys" -type l >&2; return 1; fi
}
