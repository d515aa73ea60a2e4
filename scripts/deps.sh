#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the Debian 12 packages uffd-shim needs to build, test and run its demo.
set -euo pipefail
pkgs=(
  # build
  gcc meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libxml2-dev libcap-ng-dev libseccomp-dev
  # tests and demo: the real stack
  python3 util-linux procps iproute2 binutils valgrind
  # the Linux test guest (tests/guest/linux): gcc -static needs libc.a
  libc6-dev
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
  # the 'newer' suite's libvirt 11.x / QEMU 10.x root
  # (tests/newer-stack/setup-root.sh)
  debootstrap
  # tests of lsm/ (checkmodule, semodule_link/_expand, sesearch: tools only,
  # no SELinux is enabled by them) and of debian/ and rpm/
  checkpolicy semodule-utils setools debhelper lintian fakeroot dpkg-dev systemd rpm cpio
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# apparmor_parser for the offline parse test of lsm/apparmor: extracted, not
# installed, so no profile is loaded and no apparmor.service is enabled.
aa_root=${UFFD_SHIM_APPARMOR_ROOT:-/var/cache/uffd-shim-ci/apparmor}
if ! command -v apparmor_parser >/dev/null 2>&1 && [ ! -x "$aa_root/sbin/apparmor_parser" ]; then
  echo "extracting apparmor_parser into $aa_root"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq apparmor >/dev/null)
  mkdir -p "$aa_root"
  dpkg-deb -x "$tmp"/apparmor_*.deb "$aa_root"
  rm -rf "$tmp"
fi

# Debian's SELinux reference policy (its modules, bzip2ed .pp files) for the
# offline link test of lsm/selinux: extracted, not installed, so no policy
# store is built and nothing is labelled or enabled.
se_root=${UFFD_SHIM_SELINUX_POLICY_ROOT:-/var/cache/uffd-shim-ci/selinux-policy}
if [ ! -f "$se_root/usr/share/selinux/default/base.pp.bz2" ]; then
  echo "extracting selinux-policy-default into $se_root"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq selinux-policy-default >/dev/null)
  mkdir -p "$se_root"
  dpkg-deb -x "$tmp"/selinux-policy-default_*.deb "$se_root"
  rm -rf "$tmp"
fi
