# SPDX-License-Identifier: GPL-2.0-or-later
# hosts.sh - bash library: private libvirt "hosts" (mount namespaces) on one machine for e2e tests.
# shellcheck shell=bash
# shellcheck disable=SC2034  # E2E_* result variables are read by the callers
#
# Source it from bash:   . "$(dirname "$0")/lib/hosts.sh"
#
# Every host NAME gets a private mount namespace, kept alive by a holder
# process, in which these paths are private:
#   /run                tmpfs (so /run/libvirt and /run/uffd-shim are private;
#                       the machine's other /run entries are bind-mounted back)
#   /etc/libvirt        copy of the machine's, with its own libvirtd.conf,
#                       qemu.conf, virtlogd.conf and an empty hooks/qemu.d/
#   /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt
#                       empty skeletons of the machine's directories
# and its own virtlogd and libvirtd. Nothing is written to the machine's
# /etc/libvirt, /run, /var/*/libvirt. Network namespace, /tmp, /proc, /sys
# and the disk image are shared: migration between hosts goes over
# tcp://127.0.0.1 and the image is "shared storage".
#
# All state lives under $E2E_BASE (default: a fresh mktemp -d, created by the
# first host_up/e2e_init and exported), one directory per host:
#   $E2E_BASE/hosts/NAME/{etc,lib,log,cache}   bind sources of the private dirs
#   $E2E_BASE/hosts/NAME/holder.pid            pid of the namespace holder
#
# Tunables (environment):
#   E2E_BASE                 base directory (kept if set by the caller)
#   E2E_HOST_UP_TIMEOUT      seconds to wait for a daemon (default 90)
#   E2E_MIGRATE_TIMEOUT      seconds for one `virsh migrate` (default 180)
#   E2E_MIGRATE_UNSAFE       0: do not pass --unsafe (default 1, see migrate)
#   E2E_MIGRATE_URI          --migrateuri of `migrate` (default tcp://127.0.0.1)
#   E2E_QEMU_CONF_EXTRA      "key = value" lines for the host's qemu.conf
#                            (host_up; they override the harness' settings)
#   E2E_LIBVIRTD_CONF_EXTRA  same for the host's libvirtd.conf
#   E2E_LIBVIRTD_LOG_FILTERS extra libvirtd log_filters, e.g. "1:qemu.qemu_monitor"
#                            (always logged: warnings, and util.hook debug;
#                            file: $(host_root NAME)/var/log/libvirt/libvirtd.log)
#   E2E_LIBVIRTD_ENV         extra "VAR=value" words for libvirtd's environment
#   E2E_CGROUPS              1: keep libvirt's default cgroup_controllers;
#                            default: cgroup_controllers = [ ], because both
#                            hosts would create the same cgroup path for the
#                            migrating domain in the machine's hierarchy
#   E2E_FIX_KVM_NODE         0: do not replace a root-only /dev/kvm inside
#                            the hosts by a 0660 root:kvm node (see below)
#   E2E_GUEST_IMAGE          use this image instead of building one
#   E2E_KEEP                 1: host_down/e2e_cleanup keep files (debugging)
#
# Functions return non-zero on failure and print diagnostics on stderr; they
# never exit the caller. Call host_up/migrate/e2e_init in the main shell
# (not inside $(...)), they set variables.

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_LIB_DIR/../../.." && pwd)
E2E_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Error text of the unfixed system (libvirt 9.0 + QEMU 7.2, knob 0).
E2E_POSTCOPY_ERROR="internal error: unable to execute QEMU command 'migrate-set-capabilities': Postcopy is not supported"

_e2e_log() { printf 'e2e: %s\n' "$*" >&2; }

_e2e_now() { date +%s.%N; }

_e2e_elapsed() { # START -> seconds with 2 decimals
    awk -v a="$1" -v b="$(_e2e_now)" 'BEGIN { printf "%.2f", b - a }'
}

# e2e_init: create (or adopt) $E2E_BASE. Idempotent.
e2e_init() {
    if [ -z "${E2E_BASE:-}" ]; then
        E2E_BASE=$(mktemp -d "${TMPDIR:-/tmp}/uffd-shim-e2e.XXXXXX") || return 1
        E2E_BASE_OWNED=1
    fi
    case $(readlink -f "$E2E_BASE")/ in
        /run/*|/var/run/*|/etc/libvirt/*|/var/lib/libvirt/*|/var/log/libvirt/*|/var/cache/libvirt/*|/proc/*)
            _e2e_log "E2E_BASE must not be under a path the hosts make private"
            return 1 ;;
    esac
    mkdir -p "$E2E_BASE/hosts" "$E2E_BASE/images" || return 1
    # QEMU (libvirt-qemu) must traverse to the disk image.
    chmod 0711 "$E2E_BASE" "$E2E_BASE/images" 2>/dev/null
    export E2E_BASE
}

_e2e_check_name() {
    case "${1:-}" in
        ''|*[!A-Za-z0-9_-]*) _e2e_log "invalid host name '${1:-}'"; return 1 ;;
    esac
}

_e2e_hb() { # host base dir
    printf '%s/hosts/%s' "${E2E_BASE:?E2E_BASE not set (no host_up yet?)}" "$1"
}

# Identity of a host: dev:ino of its private /run tmpfs (as seen via a pid).
_e2e_runid_of() { stat -L -c '%d:%i' "/proc/$1/root/run" 2>/dev/null; }

_e2e_proc_alive() { # PID: exists and is not a zombie
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

_e2e_starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# _e2e_holder NAME: print the holder pid if it is alive and still ours.
_e2e_holder() {
    local hb pid st
    hb=$(_e2e_hb "$1")
    [ -r "$hb/holder.pid" ] || return 1
    read -r pid st <"$hb/holder.pid" || return 1
    _e2e_proc_alive "$pid" || return 1
    [ "$(_e2e_starttime "$pid")" = "$st" ] || return 1
    printf '%s\n' "$pid"
}

# A host's processes are those whose /run is its tmpfs: same dev:ino (cheap
# filter) and the tmpfs's unique source name in their mountinfo (anonymous
# device numbers are recycled once a host is gone).
_e2e_has_token() { # PID TOKEN
    grep -qsF -- " $2 " "/proc/$1/mountinfo"
}

# _e2e_is_ours NAME PID: PID lives in (a descendant namespace of) host NAME.
_e2e_is_ours() {
    local hb id tok
    hb=$(_e2e_hb "$1")
    [ -r "$hb/runid" ] && [ -r "$hb/runtoken" ] || return 1
    read -r id <"$hb/runid"
    read -r tok <"$hb/runtoken"
    [ -n "$id" ] && [ "$(_e2e_runid_of "$2")" = "$id" ] && _e2e_has_token "$2" "$tok"
}

# _e2e_host_pids NAME: all live processes of host NAME (QEMUs, daemons,
# brokers, hooks, the holder).
_e2e_host_pids() {
    local hb id tok p
    hb=$(_e2e_hb "$1")
    [ -r "$hb/runid" ] && [ -r "$hb/runtoken" ] || return 0
    read -r id <"$hb/runid"
    read -r tok <"$hb/runtoken"
    [ -n "$id" ] && [ -n "$tok" ] || return 0
    for p in $(stat -L -c '%d:%i %n' /proc/[0-9]*/root/run 2>/dev/null |
        awk -v id="$id" '$1 == id { split($2, p, "/"); print p[3] }'); do
        _e2e_has_token "$p" "$tok" && printf '%s\n' "$p"
    done
}

# _e2e_stop_pid PID SECONDS: SIGTERM, wait, SIGKILL, wait.
_e2e_stop_pid() {
    local pid=$1 t=$(( $2 * 10 )) i
    _e2e_proc_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < t; i++)); do
        _e2e_proc_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        _e2e_proc_alive "$pid" || return 0
        sleep 0.1
    done
    _e2e_log "pid $pid did not die"
    return 1
}

# host_dir NAME: the host's state directory; $(host_dir NAME)/etc is its
# /etc/libvirt (edit, then host_restart_libvirtd), .../log its /var/log/libvirt.
host_dir() {
    _e2e_check_name "$1" || return 1
    [ -d "$(_e2e_hb "$1")" ] || { _e2e_log "no host $1"; return 1; }
    _e2e_hb "$1"
    echo
}

# host_root NAME: path through which the host's filesystem is seen.
host_root() {
    local pid
    pid=$(_e2e_holder "$1") || { _e2e_log "host $1 is not up"; return 1; }
    printf '/proc/%s/root\n' "$pid"
}

# host_uri NAME: libvirt URI of the host (stable across libvirtd restarts).
host_uri() {
    local pid
    pid=$(_e2e_holder "$1") || { _e2e_log "host $1 is not up"; return 1; }
    printf 'qemu+unix:///system?socket=/proc/%s/root/run/libvirt/libvirt-sock\n' "$pid"
}

# host_exec NAME CMD...: run CMD inside the host's mount namespace (cwd kept
# when it exists there). Environment is inherited.
host_exec() {
    local name=$1 pid wd=/
    shift
    pid=$(_e2e_holder "$name") || { _e2e_log "host $name is not up"; return 1; }
    [ -d "$PWD" ] && wd=$PWD
    nsenter -t "$pid" -m --wd="$wd" -- "$@"
}

# host_virsh NAME ARGS...: virsh against the host (C locale).
host_virsh() {
    local name=$1 uri
    shift
    uri=$(host_uri "$name") || return 1
    LC_ALL=C virsh -q -c "$uri" "$@"
}

_e2e_daemon_pid() { # NAME DAEMON
    local root pid
    root=$(host_root "$1") || return 1
    pid=$(cat "$root/run/libvirt/$2.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && _e2e_proc_alive "$pid" && _e2e_is_ours "$1" "$pid" || return 1
    printf '%s\n' "$pid"
}

# host_libvirtd_pid NAME
host_libvirtd_pid() { _e2e_daemon_pid "$1" libvirtd; }

# host_virtlogd_pid NAME
host_virtlogd_pid() { _e2e_daemon_pid "$1" virtlogd; }

# host_domain_pid NAME DOMAIN: QEMU pid from the host's pid file.
host_domain_pid() {
    local root pid
    root=$(host_root "$1") || return 1
    pid=$(cat "$root/run/libvirt/qemu/$2.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    printf '%s\n' "$pid"
}

_e2e_wait_virsh() { # NAME: until the daemon answers
    local name=$1 uri i t=$(( ${E2E_HOST_UP_TIMEOUT:-90} * 5 ))
    uri=$(host_uri "$name") || return 1
    for ((i = 0; i < t; i++)); do
        if LC_ALL=C timeout 20 virsh -q -c "$uri" version >/dev/null 2>&1; then
            return 0
        fi
        if ! host_libvirtd_pid "$name" >/dev/null && [ "$i" -gt 50 ]; then
            _e2e_log "libvirtd of $name is not running (see $(_e2e_hb "$name")/log/libvirtd.log)"
            return 1
        fi
        sleep 0.2
    done
    _e2e_log "libvirtd of $name did not answer within ${E2E_HOST_UP_TIMEOUT:-90}s"
    return 1
}

_e2e_start_daemon() { # NAME DAEMON
    local name=$1 d=$2 hb i t=$(( ${E2E_HOST_UP_TIMEOUT:-90} * 10 )) extra=()
    hb=$(_e2e_hb "$name")
    [ "$d" = libvirtd ] && read -r -a extra <<<"${E2E_LIBVIRTD_ENV:-}"
    host_exec "$name" env -i PATH="$E2E_PATH" HOME=/root LC_ALL=C "${extra[@]}" \
        "$d" --daemon --pid-file "/run/libvirt/$d.pid" \
        </dev/null >>"$hb/$d.out" 2>&1 || {
        _e2e_log "$d of $name failed to start: $(tail -n 5 "$hb/$d.out")"
        return 1
    }
    for ((i = 0; i < t; i++)); do
        _e2e_daemon_pid "$name" "$d" >/dev/null && return 0
        sleep 0.1
    done
    _e2e_log "$d of $name wrote no pid file"
    return 1
}

# _e2e_skeleton SRC DST: copy the directory tree (directories only, with
# owner and mode) of SRC to DST.
_e2e_skeleton() {
    local src=$1 dst=$2 rel mode uid gid
    mkdir -p "$dst" || return 1
    while IFS='|' read -r mode uid gid rel; do
        [ -n "$rel" ] && mkdir -p "$dst/$rel"
        chown "$uid:$gid" "$dst/$rel" && chmod "$mode" "$dst/$rel"
    done < <(find "$src" -type d -printf '%m|%U|%G|%P\n')
}

# _e2e_conf_set FILE KEY VALUE: comment out KEY, append "KEY = VALUE".
_e2e_conf_set() {
    sed -i -E "s/^[[:space:]]*($2)[[:space:]]*=/#e2e# \\1 =/" "$1" &&
        printf '%s = %s\n' "$2" "$3" >>"$1"
}

# _e2e_conf_lines FILE TEXT: apply "key = value" lines of TEXT with
# _e2e_conf_set (so they override the harness' settings), append others.
_e2e_conf_lines() {
    local line re='^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$'
    while IFS= read -r line; do
        if [[ $line =~ $re ]]; then
            _e2e_conf_set "$1" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        else
            printf '%s\n' "$line" >>"$1"
        fi
    done <<<"$2"
}

_e2e_mk_config() { # NAME HB INDEX
    local name=$1 hb=$2 idx=$3 etc=$2/etc pmin
    cp -a /etc/libvirt/. "$etc/" || return 1
    # No persistent objects, autostart or hooks of the machine in the host.
    rm -rf "$etc"/qemu/*.xml "$etc/qemu/autostart" "$etc/qemu/networks/autostart" \
        "$etc/storage/autostart" "$etc/hooks"
    mkdir -p "$etc/hooks/qemu.d" && chmod 0755 "$etc/hooks" "$etc/hooks/qemu.d"

    local lc=$etc/libvirtd.conf
    {
        printf '\n# --- uffd-shim e2e host %s ---\n' "$name"
    } >>"$lc"
    _e2e_conf_set "$lc" host_uuid "\"$(cat /proc/sys/kernel/random/uuid)\""
    _e2e_conf_set "$lc" unix_sock_group '"libvirt"'
    _e2e_conf_set "$lc" unix_sock_ro_perms '"0777"'
    _e2e_conf_set "$lc" unix_sock_rw_perms '"0770"'
    _e2e_conf_set "$lc" unix_sock_admin_perms '"0700"'
    _e2e_conf_set "$lc" auth_unix_ro '"none"'
    _e2e_conf_set "$lc" auth_unix_rw '"none"'
    _e2e_conf_set "$lc" log_level 3
    # util.hook debug lines are how host_sighup_libvirtd sees the reload.
    _e2e_conf_set "$lc" log_filters "\"1:util.hook ${E2E_LIBVIRTD_LOG_FILTERS:-}\""
    _e2e_conf_set "$lc" log_outputs '"1:file:/var/log/libvirt/libvirtd.log"'
    [ -z "${E2E_LIBVIRTD_CONF_EXTRA:-}" ] || _e2e_conf_lines "$lc" "$E2E_LIBVIRTD_CONF_EXTRA"

    local qc=$etc/qemu.conf
    printf '\n# --- uffd-shim e2e host %s ---\n' "$name" >>"$qc"
    # Disjoint incoming-migration port ranges (these live in qemu.conf).
    pmin=$(( 49300 + 50 * (idx % 300) ))
    _e2e_conf_set "$qc" migration_port_min "$pmin"
    _e2e_conf_set "$qc" migration_port_max "$(( pmin + 49 ))"
    if [ "${E2E_CGROUPS:-0}" != 1 ]; then
        # Both hosts would compute the same cgroup path for the migrating
        # domain (same name, both ids 1) and create it in the machine's
        # hierarchy: keep the test hosts out of cgroups.
        _e2e_conf_set "$qc" cgroup_controllers '[ ]'
    fi
    [ -z "${E2E_QEMU_CONF_EXTRA:-}" ] || _e2e_conf_lines "$qc" "$E2E_QEMU_CONF_EXTRA"

    local vc=$etc/virtlogd.conf
    printf '\n# --- uffd-shim e2e host %s ---\n' "$name" >>"$vc"
    _e2e_conf_set "$vc" log_outputs '"3:file:/var/log/libvirt/virtlogd.log"'
    return 0
}

# Script run inside the new namespace (as root) to build the private mounts.
# $1 = host base dir, $2 = host name, $3 = 1: fix /dev/kvm, $4 = tmpfs name.
# shellcheck disable=SC2016
_E2E_MOUNT_SCRIPT='
set -e
hb=$1
mkdir -p "$hb/.hostrun"
mount -n --rbind /run "$hb/.hostrun"
mount -n -t tmpfs -o mode=0755,size=64m,nosuid,nodev "$4" /run
for e in "$hb"/.hostrun/* "$hb"/.hostrun/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    case $n in libvirt|uffd-shim) continue ;; esac
    if [ -e "/run/$n" ] || [ -L "/run/$n" ]; then
        continue
    elif [ -L "$e" ]; then
        cp -P "$e" "/run/$n"
    elif [ -d "$e" ]; then
        mkdir "/run/$n"; mount -n --rbind "$e" "/run/$n"
    else
        : >"/run/$n"; mount -n --bind "$e" "/run/$n"
    fi
done
umount -n -l "$hb/.hostrun"
rmdir "$hb/.hostrun" 2>/dev/null || true
mkdir -m 0755 /run/libvirt /run/uffd-shim
mount -n --bind "$hb/etc" /etc/libvirt
mount -n --bind "$hb/lib" /var/lib/libvirt
mount -n --bind "$hb/log" /var/log/libvirt
mount -n --bind "$hb/cache" /var/cache/libvirt
if [ "$3" = 1 ]; then
    # /dev/kvm is root-only 0600 on this machine (Debian: 0660 root:kvm):
    # libvirt then finds the QEMU capabilities cache invalid on every lookup
    # ("KVM was enabled when probing ..., but it is not available now") and
    # re-probes QEMU (~4 s) many times per domain start. Give the host a
    # Debian-like node; guests are type=qemu and do not use KVM.
    mkdir -p "$hb/.dev"
    mount -n -t tmpfs -o mode=0755,size=64k "e2e-dev-$2" "$hb/.dev"
    mknod -m 0660 "$hb/.dev/kvm" c "$(stat -c %t /dev/kvm | sed s/^/0x/)" \
        "$(stat -c %T /dev/kvm | sed s/^/0x/)"
    chgrp kvm "$hb/.dev/kvm"
    mount -n --bind "$hb/.dev/kvm" /dev/kvm
    umount -n -l "$hb/.dev"
    rmdir "$hb/.dev" 2>/dev/null || true
fi
'

# host_up NAME: create and start host NAME. Sets E2E_HOST_UP_SECONDS.
host_up() {
    local name=$1 hb pid st t0 idx
    _e2e_check_name "$name" || return 1
    e2e_init || return 1
    t0=$(_e2e_now)
    hb=$(_e2e_hb "$name")
    if [ -e "$hb" ]; then
        _e2e_log "host $name already exists ($hb)"
        return 1
    fi
    local d
    for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        [ -d "$d" ] || { _e2e_log "$d missing (is libvirt-daemon-system installed?)"; return 1; }
    done
    mkdir -p "$hb" || return 1
    idx=$(( $(cat "$E2E_BASE/host-counter" 2>/dev/null || echo 0) + 1 ))
    printf '%s\n' "$idx" >"$E2E_BASE/host-counter"
    printf '%s\n' "$idx" >"$hb/index"
    if ! _e2e_mk_config "$name" "$hb" "$idx" || ! _e2e_skeleton /var/lib/libvirt "$hb/lib" ||
        ! _e2e_skeleton /var/log/libvirt "$hb/log" || ! _e2e_skeleton /var/cache/libvirt "$hb/cache"; then
        _e2e_log "preparing the files of host $name failed"
        host_down "$name"
        return 1
    fi
    # Probing QEMU's capabilities takes ~13 s here: seed the cache from a host
    # already up in this base (libvirt re-validates and re-probes if stale).
    local c
    for c in "$E2E_BASE"/hosts/*/cache/qemu/capabilities; do
        if [ "$c" = "$hb/cache/qemu/capabilities" ] || [ ! -d "$c" ]; then continue; fi
        ls "$c"/*.xml >/dev/null 2>&1 || continue
        mkdir -p "$hb/cache/qemu/capabilities" && cp -a "$c"/*.xml "$hb/cache/qemu/capabilities/"
        break
    done

    # Holder: double fork so it is neither a job nor a child of the caller.
    (
        cd / && exec unshare -m --propagation private -- sleep infinity \
            </dev/null >/dev/null 2>&1 &
        printf '%s\n' "$!" >"$hb/holder.spawn"
    )
    read -r pid <"$hb/holder.spawn" || { host_down "$name"; return 1; }
    local i self
    self=$(readlink /proc/self/ns/mnt)
    for ((i = 0; i < 100; i++)); do
        [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" != "$self" ] &&
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && break
        sleep 0.05
    done
    st=$(_e2e_starttime "$pid")
    if [ -z "$st" ] || [ "$(readlink "/proc/$pid/ns/mnt")" = "$self" ]; then
        _e2e_log "holder of $name did not start"
        kill "$pid" 2>/dev/null # the child spawned just above, if still there
        host_down "$name"
        return 1
    fi
    printf '%s %s\n' "$pid" "$st" >"$hb/holder.pid"
    rm -f "$hb/holder.spawn"

    local fixkvm=0 token
    token=e2e-run-$name-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$token" >"$hb/runtoken"
    if [ "${E2E_FIX_KVM_NODE:-1}" = 1 ] && [ -c /dev/kvm ] && getent group kvm >/dev/null &&
        [ "$(stat -c %a:%G /dev/kvm)" != 660:kvm ] && [ "$(stat -c %a:%G /dev/kvm)" != 666:kvm ]; then
        fixkvm=1
    fi
    if ! nsenter -t "$pid" -m -- bash -c "$_E2E_MOUNT_SCRIPT" e2e-mount "$hb" "$name" "$fixkvm" "$token" \
        >"$hb/mount.out" 2>&1; then
        _e2e_log "mount setup of $name failed: $(cat "$hb/mount.out")"
        host_down "$name"
        return 1
    fi
    _e2e_runid_of "$pid" >"$hb/runid"
    if [ "$(cat "$hb/runid")" = "$(_e2e_runid_of $$)" ]; then
        _e2e_log "host $name: /run is not private"
        host_down "$name"
        return 1
    fi

    if ! _e2e_start_daemon "$name" virtlogd || ! _e2e_start_daemon "$name" libvirtd ||
        ! _e2e_wait_virsh "$name"; then
        host_down "$name"
        return 1
    fi
    E2E_HOST_UP_SECONDS=$(_e2e_elapsed "$t0")
    return 0
}

# host_down NAME: destroy domains, stop daemons and every process of the
# host, end the holder, remove its files. Idempotent; safe in traps.
host_down() {
    local name=$1 hb holder uri dom p pids t0
    _e2e_check_name "$name" || return 1
    [ -n "${E2E_BASE:-}" ] || return 0
    hb=$(_e2e_hb "$name")
    [ -d "$hb" ] || return 0
    t0=$(_e2e_now)
    if holder=$(_e2e_holder "$name") && host_libvirtd_pid "$name" >/dev/null; then
        uri=$(host_uri "$name")
        for dom in $(LC_ALL=C timeout 20 virsh -q -c "$uri" list --all --name 2>/dev/null); do
            LC_ALL=C timeout 30 virsh -q -c "$uri" destroy "$dom" >/dev/null 2>&1
            LC_ALL=C timeout 30 virsh -q -c "$uri" undefine --nvram "$dom" >/dev/null 2>&1
        done
    fi
    if holder=$(_e2e_holder "$name"); then
        p=$(host_libvirtd_pid "$name") && _e2e_stop_pid "$p" 15
        p=$(host_virtlogd_pid "$name") && _e2e_stop_pid "$p" 5
    else
        holder=
    fi
    # Everything else that lives in the host (identified by its private /run,
    # so this works even if the holder is gone): QEMUs left over, brokers and
    # helpers started with host_exec, hook children; the holder last.
    pids=$(_e2e_host_pids "$name" | grep -vx "${holder:-0}")
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null
        for p in $pids; do _e2e_stop_pid "$p" 5; done
    fi
    [ -n "$holder" ] && _e2e_stop_pid "$holder" 5
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        _e2e_log "E2E_KEEP=1: keeping $hb"
        mv "$hb" "$hb.down.$$.$RANDOM" 2>/dev/null
    else
        rm -rf "$hb"
    fi
    E2E_HOST_DOWN_SECONDS=$(_e2e_elapsed "$t0")
    return 0
}

# host_restart_libvirtd NAME: stop libvirtd (domains keep running) and start
# it again in the same namespace.
host_restart_libvirtd() {
    local name=$1 p
    p=$(host_libvirtd_pid "$name") && _e2e_stop_pid "$p" 30
    _e2e_start_daemon "$name" libvirtd && _e2e_wait_virsh "$name"
}

# host_sighup_libvirtd NAME: make libvirtd re-read its hooks; waits (up to
# 10 s) until the reload rescanned /etc/libvirt/hooks (seen in libvirtd.log).
host_sighup_libvirtd() {
    local name=$1 p log n0 i
    p=$(host_libvirtd_pid "$name") || { _e2e_log "libvirtd of $name not running"; return 1; }
    log=$(_e2e_hb "$name")/log/libvirtd.log
    n0=$(grep -c 'hooks/bhyve' "$log" 2>/dev/null)
    kill -HUP "$p" || return 1
    for ((i = 0; i < 100; i++)); do
        sleep 0.1
        [ "$(grep -c 'hooks/bhyve' "$log" 2>/dev/null)" -gt "${n0:-0}" ] && {
            sleep 0.2
            _e2e_wait_virsh "$name"
            return
        }
    done
    _e2e_wait_virsh "$name"
}

# host_install_hook NAME FILE: install FILE as /etc/libvirt/hooks/qemu.d/<basename>
# of the host and make libvirtd re-read its hooks.
host_install_hook() {
    local name=$1 file=$2 hb
    hb=$(_e2e_hb "$name")
    [ -d "$hb/etc/hooks/qemu.d" ] || { _e2e_log "host $name is not up"; return 1; }
    install -m 0755 "$file" "$hb/etc/hooks/qemu.d/$(basename "$file")" || return 1
    host_sighup_libvirtd "$name"
}

# host_remove_hook NAME BASENAME
host_remove_hook() {
    rm -f "$(_e2e_hb "$1")/etc/hooks/qemu.d/$2" && host_sighup_libvirtd "$1"
}

# e2e_guest_image OUT [BUILD_ARGS...]: a bootable raw image. $E2E_GUEST_IMAGE
# if set, else tests/guest/build-guest.sh OUT BUILD_ARGS... if present, else a 1 MiB image with a
# boot sector that prints a banner on COM1 and keeps incrementing one byte
# in each 4 KiB page of 64 KiB..576 KiB, printing "." every 65536 sweeps.
e2e_guest_image() {
    local out=$1 bg=$E2E_REPO/tests/guest/build-guest.sh
    shift
    if [ -n "${E2E_GUEST_IMAGE:-}" ]; then
        cp --sparse=always "$E2E_GUEST_IMAGE" "$out" || return 1
    elif [ -f "$bg" ]; then
        sh "$bg" "$out" "$@" >&2 || { _e2e_log "$bg failed"; return 1; }
    else
        {
            printf '\xfa\x31\xc0\x8e\xd8\x8e\xd0\xbc\x00\x7c\xba\xf8\x03\xbe\x36\x7c'
            printf '\xac\x84\xc0\x74\x03\xee\xeb\xf8\x31\xc9\xbb\x00\x10\x8e\xc3\x26'
            printf '\xfe\x06\x00\x00\x81\xc3\x00\x01\x81\xfb\x00\x90\x72\xef\x41\x75'
            printf '\xe9\xb0\x2e\xee\xeb\xe4'
            printf 'uffd-shim e2e fallback guest: booted\r\n\0'
        } >"$out" || return 1
        truncate -s 510 "$out" && printf '\x55\xaa' >>"$out" && truncate -s 1M "$out" || return 1
    fi
    chmod 0644 "$out"
}

# e2e_disk_cache IMAGE: "none" if IMAGE can be opened with O_DIRECT (needed
# for cache='none'), else "writeback" (then migrate needs --unsafe).
e2e_disk_cache() {
    if dd if="$1" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
        echo none
    else
        echo writeback
    fi
}

# domain_xml NAME DISK [MEM_MiB]: transient-domain XML for `virsh create`.
# The disk uses cache='none' when possible: libvirt 9.0 refuses live
# migration of a writable disk on non-shared storage otherwise
# ("Unsafe migration ...") unless --unsafe is given.
domain_xml() {
    local name=$1 disk mem=${3:-128} cache
    disk=$(readlink -f "$2") || return 1
    cache=$(e2e_disk_cache "$disk")
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <currentMemory unit='MiB'>$mem</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='$cache'/>
      <source file='$disk'/>
      <target dev='hda' bus='ide'/>
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

# host_serial_log NAME DOMAIN: path (from outside) of the guest's serial log.
host_serial_log() {
    local root
    root=$(host_root "$1") || return 1
    printf '%s/var/log/libvirt/qemu/%s-serial.log\n' "$root" "$2"
}

# host_start_domain NAME DOMAIN DISK [MEM_MiB]: `virsh create` a transient guest.
host_start_domain() {
    local hb
    hb=$(_e2e_hb "$1")
    domain_xml "$2" "$3" "${4:-128}" >"$hb/$2.xml" || return 1
    host_virsh "$1" create "$hb/$2.xml" >/dev/null
}

# host_domstate NAME DOMAIN: prints the state word ("running", "paused", ...)
# or nothing if the domain does not exist.
host_domstate() {
    host_virsh "$1" domstate "$2" 2>/dev/null | head -n 1
}

# migrate SRC DST DOMAIN [virsh migrate flags...]
# Runs: virsh -c URI(SRC) migrate --live --unsafe FLAGS DOMAIN URI(DST)
#       --migrateuri tcp://127.0.0.1      (E2E_MIGRATE_UNSAFE=0: no --unsafe;
#                                          E2E_MIGRATE_URI: another --migrateuri)
# while `virsh event` listens on both hosts. Sets E2E_MIGRATE_RC,
# E2E_MIGRATE_OUTPUT, E2E_MIGRATE_SECONDS, E2E_MIGRATE_POSTCOPY (1 if a
# "Post-copy" lifecycle event was seen, i.e. the switch really happened),
# E2E_MIGRATE_START and E2E_MIGRATE_END (epoch seconds, nanosecond
# resolution, around the virsh migrate command), E2E_MIGRATE_LOG (output
# and events; its name has the domain's, so migrations of different
# domains can run at once); returns the rc (124: timed out after
# $E2E_MIGRATE_TIMEOUT s, the job is then aborted).
# Note: with a fast link precopy may converge before --postcopy-after-precopy
# switches; add a precopy cap (e.g. --bandwidth 32, MiB/s) to force postcopy.
migrate() {
    local src=$1 dst=$2 dom=$3 suri duri t0 n ev1 ev2 evp=()
    shift 3
    suri=$(host_uri "$src") && duri=$(host_uri "$dst") || return 1
    # The image is shared by construction, but libvirt 9.0 only trusts
    # network/cluster filesystems: any writable local-fs disk makes it refuse
    # ("Unsafe migration: Migration without shared storage is unsafe"),
    # whatever the cache mode.
    local unsafe=()
    [ "${E2E_MIGRATE_UNSAFE:-1}" = 1 ] && unsafe=(--unsafe)
    n=$(find "$E2E_BASE" -maxdepth 1 -name 'migrate-*.log' | wc -l)
    E2E_MIGRATE_LOG=$E2E_BASE/migrate-$((n + 1))-$dom.log
    ev1=$E2E_MIGRATE_LOG.src-events
    ev2=$E2E_MIGRATE_LOG.dst-events
    LC_ALL=C timeout "$(( ${E2E_MIGRATE_TIMEOUT:-180} + 30 ))" virsh -q -c "$suri" \
        event --all --loop --timestamp >"$ev1" 2>&1 </dev/null &
    evp+=($!)
    LC_ALL=C timeout "$(( ${E2E_MIGRATE_TIMEOUT:-180} + 30 ))" virsh -q -c "$duri" \
        event --all --loop --timestamp >"$ev2" 2>&1 </dev/null &
    evp+=($!)
    sleep 0.5 # let the listeners register
    t0=$(_e2e_now)
    E2E_MIGRATE_OUTPUT=$(LC_ALL=C timeout -k 10 "${E2E_MIGRATE_TIMEOUT:-180}" \
        virsh -c "$suri" migrate --live "${unsafe[@]}" "$@" "$dom" "$duri" \
        --migrateuri "${E2E_MIGRATE_URI:-tcp://127.0.0.1}" 2>&1)
    E2E_MIGRATE_RC=$?
    E2E_MIGRATE_END=$(_e2e_now)
    E2E_MIGRATE_START=$t0
    E2E_MIGRATE_SECONDS=$(awk -v a="$t0" -v b="$E2E_MIGRATE_END" 'BEGIN { printf "%.2f", b - a }')
    if [ "$E2E_MIGRATE_RC" = 124 ] || [ "$E2E_MIGRATE_RC" = 137 ]; then
        LC_ALL=C timeout 20 virsh -q -c "$suri" domjobabort "$dom" >/dev/null 2>&1
    fi
    sleep 0.3 # late events
    kill "${evp[@]}" 2>/dev/null
    wait "${evp[@]}" 2>/dev/null
    E2E_MIGRATE_POSTCOPY=0
    grep -q "domain '$dom'.*Post-copy" "$ev1" "$ev2" 2>/dev/null && E2E_MIGRATE_POSTCOPY=1
    {
        printf 'migrate %s -> %s %s %s\nrc=%s seconds=%s postcopy=%s\n%s\n' "$src" "$dst" \
            "$dom" "$*" "$E2E_MIGRATE_RC" "$E2E_MIGRATE_SECONDS" "$E2E_MIGRATE_POSTCOPY" \
            "$E2E_MIGRATE_OUTPUT"
        echo "--- events on $src"; cat "$ev1"
        echo "--- events on $dst"; cat "$ev2"
    } >"$E2E_MIGRATE_LOG" 2>/dev/null
    rm -f "$ev1" "$ev2"
    return "$E2E_MIGRATE_RC"
}

# e2e_hosts: names of the hosts under $E2E_BASE.
e2e_hosts() {
    [ -n "${E2E_BASE:-}" ] && [ -d "$E2E_BASE/hosts" ] || return 0
    find "$E2E_BASE/hosts" -mindepth 1 -maxdepth 1 -type d ! -name '*.down.*' -printf '%f\n'
}

# e2e_cleanup: host_down every host, remove $E2E_BASE if we created it.
# Idempotent; meant for `trap e2e_cleanup EXIT`.
e2e_cleanup() {
    local h
    [ -n "${E2E_BASE:-}" ] && [ -d "$E2E_BASE" ] || return 0
    for h in $(e2e_hosts); do host_down "$h"; done
    if [ "${E2E_BASE_OWNED:-0}" = 1 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
        rm -rf "$E2E_BASE"
    fi
    return 0
}

# e2e_missing_env: prints why the e2e environment is unusable (nothing if OK).
e2e_missing_env() {
    local c
    [ "$(id -u)" = 0 ] || { echo "not root"; return; }
    for c in virsh libvirtd virtlogd qemu-system-x86_64 unshare nsenter timeout; do
        PATH=$PATH:$E2E_PATH command -v "$c" >/dev/null 2>&1 || { echo "$c not found"; return; }
    done
    for c in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
        [ -d "$c" ] || { echo "$c missing"; return; }
    done
    unshare -m --propagation private true 2>/dev/null || echo "cannot create mount namespaces"
}
