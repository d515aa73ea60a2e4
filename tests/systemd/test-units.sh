#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# systemd units of uffd-shimd: they verify, match what the daemon expects, and score <= 2.0 in systemd-analyze security.
set -u
. "$(dirname "$0")/../lib/common.sh"

SRC=${UFFD_SHIM_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
U=$SRC/systemd
SA=${UFFD_SHIM_SYSTEMD_ANALYZE:-$(command -v systemd-analyze || true)}
[ -n "$SA" ] || skip_all "needs systemd-analyze (package systemd; scripts/deps.sh)"
make_workdir

key() { sed -n "s/^$2=//p" "$U/$1"; }
check "uffd-shimd.socket: /run/uffd-shim/uffd.sock, fd name uffd, mode 0666, seqpacket" \
    test "$(key uffd-shimd.socket ListenSequentialPacket) $(key uffd-shimd.socket FileDescriptorName) $(key uffd-shimd.socket SocketMode)" = "/run/uffd-shim/uffd.sock uffd 0666"
check "uffd-shimd-admin.socket: /run/uffd-shim/admin.sock, fd name admin, mode 0600, seqpacket" \
    test "$(key uffd-shimd-admin.socket ListenSequentialPacket) $(key uffd-shimd-admin.socket FileDescriptorName) $(key uffd-shimd-admin.socket SocketMode)" = "/run/uffd-shim/admin.sock admin 0600"
check "the socket paths are the daemon's defaults" \
    bash -c 'grep -q "UFFD_SHIM_DEFAULT_SOCKET *\"/run/uffd-shim/uffd.sock\"" "$1" && grep -q "/run/uffd-shim/admin.sock" "$1"' _ "$SRC/shim/uffd-shim-proto.h"
check "the service is Type=notify with both sockets, writes only /run/uffd-shim" \
    test "$(key uffd-shimd.service Type) | $(key uffd-shimd.service Sockets) | $(key uffd-shimd.service ReadWritePaths)" = "notify | uffd-shimd.socket uffd-shimd-admin.socket | /run/uffd-shim"
check "tmpfiles creates /run/uffd-shim 0755 root root" grep -qx "d /run/uffd-shim 0755 root root -" "$U/uffd-shim.tmpfiles"

# verify: the only complaint allowed is the not-yet-installed executable.
out=$(cd "$U" && "$SA" verify --man=no uffd-shimd.socket uffd-shimd-admin.socket uffd-shimd.service 2>&1 |
      grep -v "Command /usr/sbin/uffd-shimd is not executable" | grep -v '^$')
check "systemd-analyze verify accepts the units" test -z "$out"
[ -z "$out" ] || diag "$out"

"$SA" security --offline=true "$U/uffd-shimd.service" >"$WORK/security.txt" 2>&1
score=$(sed -n 's/.*Overall exposure level for uffd-shimd.service: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
diag "systemd-analyze security --offline=true: exposure ${score:-?} ($("$SA" --version | head -n 1))"
check "systemd-analyze security exposure ${score:-?} <= 2.0" \
    awk -v s="${score:-99}" 'BEGIN { exit !(s + 0 <= 2.0) }'
tap_end
