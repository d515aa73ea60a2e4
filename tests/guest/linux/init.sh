#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the Linux test guest's initramfs: mounts, loads the virtio modules, runs guest-load.
#
# PID 1 stays this shell: if guest-load dies (a kernel BUG kills the task
# that hit it) the console gets an "UG ERR" line and the guest idles,
# rather than the kernel panicking on a dead init.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /data
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    insmod "/lib/modules/$m.ko" || echo "UG ERR insmod $m failed"
done
mount -t tmpfs -o size=64m tmpfs /data
dev=/dev/vda
for arg in $(cat /proc/cmdline); do
    case $arg in ug.disk=*) dev=${arg#ug.disk=} ;; esac
done
i=0
while [ ! -b "$dev" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$dev" ] || echo "UG ERR no disk $dev"
/sbin/guest-load
echo "UG ERR guest-load exited with status $?"
while :; do sleep 3600; done
