#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the test guest's raw disk image: boot loader + stage 2 + DMA data sectors.
#
# Usage: build-guest.sh OUT.img [as --defsym NAME=VALUE ...]
#   e.g. build-guest.sh guest.img PROGRESS_SWEEPS=8 SWEEP_DOWN=0
#        build-guest.sh guest.img VIRTIO=1   (reads through virtio-blk, not IDE)
#
# Layout (512-byte sectors):
#   LBA 0                      stage 1 (boot sector)
#   LBA 1 .. STAGE2_SECTORS    stage 2
#   LBA DATA_LBA ..            DATA_CHUNKS * 128 data sectors; sector L holds
#                              dword 0 = L, dword 1 = MAGIC, dword 127 = ~L,
#                              dwords 2..126 = L * 0x10000 + index
#   padded to 1 MiB
# Needs: as, ld, objcopy (binutils), python3.
set -eu

STAGE2_SECTORS=16
DATA_LBA=64
DATA_CHUNKS=8
MAGIC=0x44464655
IMG_BYTES=1048576

if [ $# -lt 1 ]; then
    echo "usage: $0 OUT.img [NAME=VALUE ...]" >&2
    exit 2
fi
out=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

defsyms="--defsym STAGE2_SECTORS=$STAGE2_SECTORS --defsym DATA_LBA=$DATA_LBA"
defsyms="$defsyms --defsym DATA_CHUNKS=$DATA_CHUNKS --defsym MAGIC=$MAGIC"
for kv in "$@"; do
    defsyms="$defsyms --defsym $kv"
done

# shellcheck disable=SC2086 # word splitting of $defsyms is intended
as --32 $defsyms -o "$tmp/guest.o" "$here/guest.S"
ld -m elf_i386 -Ttext=0x7c00 -e _start -o "$tmp/guest.elf" "$tmp/guest.o"
objcopy -O binary -j .text "$tmp/guest.elf" "$tmp/guest.bin"

python3 - "$tmp/guest.bin" "$out" "$STAGE2_SECTORS" "$DATA_LBA" \
    "$DATA_CHUNKS" "$MAGIC" "$IMG_BYTES" <<'EOF'
import struct
import sys

binf, out = sys.argv[1], sys.argv[2]
stage2, data_lba, chunks, magic, img_bytes = (int(a, 0) for a in sys.argv[3:])
code = open(binf, "rb").read()
if len(code) != 512 * (1 + stage2):
    sys.exit("guest binary is %d bytes, expected %d" % (len(code), 512 * (1 + stage2)))
if code[510:512] != b"\x55\xaa":
    sys.exit("boot signature missing")
if data_lba < 1 + stage2:
    sys.exit("data area overlaps stage 2")
img = bytearray(img_bytes)
img[:len(code)] = code
for lba in range(data_lba, data_lba + chunks * 128):
    words = [(lba * 0x10000 + i) & 0xffffffff for i in range(128)]
    words[0] = lba
    words[1] = magic
    words[127] = ~lba & 0xffffffff
    off = lba * 512
    if off + 512 > img_bytes:
        sys.exit("image too small for the data area")
    img[off:off + 512] = struct.pack("<128I", *words)
with open(out, "wb") as f:
    f.write(img)
EOF
echo "built $out"
