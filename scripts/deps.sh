#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the Debian 12 packages uffd-shim needs to build, test and run its demo.
set -euo pipefail
pkgs=(
  # build
  gcc meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libxml2-dev libcap-ng-dev libseccomp-dev
  # tests and demo: the real stack
  python3 util-linux procps iproute2 binutils
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
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
