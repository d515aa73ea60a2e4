# SPDX-License-Identifier: GPL-2.0-or-later
# linux-guest.sh - bash library: the Linux test guest (tests/guest/linux) on e2e hosts.
# shellcheck shell=bash
# shellcheck disable=SC2034  # LGUEST_* result variables are read by the callers
#
# Requires lib/hosts.sh (sourced first); diag from tests/lib/common.sh if present.
#   lguest_build              build or reuse the cached guest, copy it to
#                             $E2E_BASE/images/linux (sets LGUEST_DIR, LGUEST_KERNEL,
#                             LGUEST_INITRD, LGUEST_DISK, LGUEST_CMDLINE)
#   lguest_domain_xml NAME [MEM_MiB] [CMDLINE_EXTRA]
#                             transient-domain XML: direct kernel boot, the disk
#                             read-only on virtio, serial console to a file
#   lguest_start HOST NAME [MEM_MiB] [CMDLINE_EXTRA]
#                             `virsh create` it on HOST, wait for the first round
#   lguest_rounds HOST DOM    number of completed rounds in HOST's serial log
#   lguest_errors HOST DOM    the error lines in HOST's serial log: the guest's
#                             own (UG ERR) and the kernel's BUG/oops/warnings
#   lguest_running HOST DOM [N] [SECONDS]
#                             running on HOST and N (default 2) more rounds
#                             within SECONDS (default 60)
#   lguest_ok HOST DOM [N] [SECONDS]
#                             lguest_running and no error line in HOST's log
#
# What the guest checks every round (its memory, a virtio disk re-read with
# O_DIRECT, a tmpfs file, the kernel taint) is described in
# tests/guest/linux/guest-load.c. Each host has its own serial log file
# (host_serial_log), so a destination's log holds only what the guest
# printed after it arrived there.
#
# Tunables: LGUEST_MEM (MiB of guest RAM, default 320), LGUEST_CMDLINE_EXTRA
# (appended to the kernel command line, e.g. "ug.mem=96"), LGUEST_EMULATOR
# (a QEMU binary for <emulator>; default: libvirt's),
# LGUEST_BOOT_TIMEOUT (seconds to the first round, default 120).

_lguest_diag() { if declare -F diag >/dev/null; then diag "$@"; else printf '# %s\n' "$@" >&2; fi; }

# Kernel messages that mean the guest kernel hit a bug (printed at levels
# the "quiet" console still shows).
LGUEST_KERNEL_ERRORS='kernel BUG at|BUG: |Oops|general protection fault|list_(add|del) corruption|Kernel panic|WARNING: CPU:|Unable to handle|segfault at|I/O error, dev|Call Trace:'

lguest_build() {
    local out dst
    out=$(bash "$E2E_REPO/tests/guest/linux/build-linux-guest.sh" 2>"$E2E_BASE/linux-guest-build.log" | tail -n 1)
    if [ -z "$out" ] || [ ! -f "$out/manifest" ]; then
        cat "$E2E_BASE/linux-guest-build.log" >&2
        return 1
    fi
    # A copy in the test's base: libvirt relabels (chowns) kernel, initrd and
    # disk for the QEMU user; the shared cache stays untouched.
    dst=$E2E_BASE/images/linux
    mkdir -p "$dst" && chmod 0755 "$dst" &&
        cp "$out/vmlinuz" "$out/initrd.img" "$out/cmdline" "$out/manifest" "$dst/" &&
        cp --sparse=always "$out/disk.img" "$dst/disk.img" && chmod 0644 "$dst"/* || return 1
    LGUEST_DIR=$dst
    LGUEST_KERNEL=$dst/vmlinuz
    LGUEST_INITRD=$dst/initrd.img
    LGUEST_DISK=$dst/disk.img
    LGUEST_CMDLINE=$(cat "$dst/cmdline")
}

lguest_domain_xml() {
    local name=$1 mem=${2:-${LGUEST_MEM:-320}} extra=${3:-${LGUEST_CMDLINE_EXTRA:-}}
    [ -n "${LGUEST_KERNEL:-}" ] || { _e2e_log "lguest_build first"; return 1; }
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <currentMemory unit='MiB'>$mem</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$LGUEST_KERNEL</kernel>
    <initrd>$LGUEST_INITRD</initrd>
    <cmdline>$LGUEST_CMDLINE${extra:+ $extra}</cmdline>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>${LGUEST_EMULATOR:+
    <emulator>$LGUEST_EMULATOR</emulator>}
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='$(e2e_disk_cache "$LGUEST_DISK")'/>
      <source file='$LGUEST_DISK'/>
      <target dev='vda' bus='virtio'/>
      <readonly/>
    </disk>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name-serial.log'/>
      <target port='0'/>
    </serial>
    <video>
      <model type='none'/>
    </video>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

lguest_rounds() {
    local n
    n=$(grep -ac "^UG P " "$(host_serial_log "$1" "$2")" 2>/dev/null)
    echo "${n:-0}"
}

lguest_errors() {
    grep -aE "^UG ERR|$LGUEST_KERNEL_ERRORS" "$(host_serial_log "$1" "$2")" 2>/dev/null
}

lguest_start() {
    local host=$1 name=$2 hb i t=$(( ${LGUEST_BOOT_TIMEOUT:-120} * 5 ))
    hb=$(_e2e_hb "$host")
    lguest_domain_xml "$name" "${3:-}" "${4:-}" >"$hb/$name.xml" || return 1
    host_virsh "$host" create "$hb/$name.xml" >/dev/null || return 1
    for ((i = 0; i < t; i++)); do
        [ "$(lguest_rounds "$host" "$name")" -gt 0 ] && return 0
        if [ -z "$(host_domstate "$host" "$name")" ]; then
            _e2e_log "$name is gone from $host"
            break
        fi
        sleep 0.2
    done
    _e2e_log "$name printed no round on $host: $(tail -n 5 "$(host_serial_log "$host" "$name")" 2>/dev/null)"
    return 1
}

lguest_running() {
    local n=${3:-2} t=$(( ${4:-60} * 5 )) n0 i
    [ "$(host_domstate "$1" "$2")" = running ] || return 1
    n0=$(lguest_rounds "$1" "$2")
    for ((i = 0; i < t; i++)); do
        [ "$(lguest_rounds "$1" "$2")" -ge $((n0 + n)) ] && return 0
        [ "$(host_domstate "$1" "$2")" = running ] || return 1
        sleep 0.2
    done
    return 1
}

lguest_ok() {
    local errs
    lguest_running "$@" || {
        _e2e_lguest_diag_state "$1" "$2" "does not run or make progress"
        return 1
    }
    errs=$(lguest_errors "$1" "$2")
    if [ -n "$errs" ]; then
        _e2e_lguest_diag_state "$1" "$2" "reported errors"
        return 1
    fi
    return 0
}

_e2e_lguest_diag_state() { # HOST DOM WHAT
    local log
    log=$(host_serial_log "$1" "$2")
    _lguest_diag "$2 on $1 $3 (state '$(host_domstate "$1" "$2")', $(lguest_rounds "$1" "$2") rounds)"
    _lguest_diag "$(lguest_errors "$1" "$2" | head -n 8)"
    _lguest_diag "last: $(grep -a "^UG P " "$log" 2>/dev/null | tail -n 1)"
    # What a failure in a run whose log is kept only in part needs: the
    # console's own last lines (any kind), how long ago the last migration
    # ended, where the vCPU is, and the domain's QEMU log.
    _lguest_diag "console tail: $(tail -n 6 "$log" 2>/dev/null | tr -d '\r' | tr -c '[:print:]\n' '?' | sed 's/^/| /')"
    if [ -n "${E2E_MIGRATE_END:-}" ]; then
        _lguest_diag "$(awk -v e="$E2E_MIGRATE_END" -v n="$(_e2e_now)" 'BEGIN { printf "%.1f s since the last migration ended", n - e }')"
    fi
    _lguest_diag "vCPU: $(host_virsh "$1" qemu-monitor-command "$2" --hmp 'info registers' 2>&1 |
        grep -aE '^(RIP|CS )' | tr -s ' \n' ' ')"
    _lguest_diag "QEMU log: $(tail -n 4 "$(host_root "$1")/var/log/libvirt/qemu/$2.log" 2>/dev/null | cut -c1-200)"
}
