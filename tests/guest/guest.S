/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test guest: dirties RAM like QEMU's migration test and runs IDE bus-master DMA into RAM. */

/*
 * Boot: SeaBIOS loads sector 0 (stage 1) at 0x7c00.  Stage 1 loads stage 2
 * (STAGE2_SECTORS sectors from LBA 1) to 0x7e00 with int 0x13 AH=0x42,
 * enables A20, switches to 32-bit protected mode (flat 4 GiB code/data
 * segments, interrupts off) and jumps to stage 2, which never returns.
 *
 * Stage 2 finds the PIIX3 IDE function 00:01.1 (8086:7010) via 0xcf8/0xcfc,
 * takes its bus-master I/O base from BAR4, sets I/O decoding and bus
 * mastering in its command register, then loops forever.  One sweep:
 *   (a) increment the first byte of every 4 KiB page in
 *       [MEM_START, MEM_END) = [1 MiB, 96 MiB), upwards, like QEMU's
 *       tests/migration guest (tests/guest/memcheck.py checks a dump);
 *   (b) the sweep is cut into DMA_PER_SWEEP (24) segments of ~4 MiB, and
 *       before each segment the guest does one ATA READ DMA (0xc8, LBA28,
 *       primary master, 0x1f0/0x3f6, bus-master poll, no interrupts) of
 *       128 sectors = 64 KiB into one 64 KiB slot of the DMA buffer area
 *       [DMA_BUF, DMA_BUF + DMA_SLOTS * 64 KiB) = [100 MiB, 104 MiB);
 *       DMA number n uses slot (n * SLOT_STRIDE) mod DMA_SLOTS and disk
 *       chunk (n / DMA_SLOTS) mod DATA_CHUNKS (128 sectors from DATA_LBA
 *       + chunk * 128), so a slot never gets the data it held before and
 *       a DMA that silently wrote nothing is caught;
 *   (c) after each DMA, check the slot: every sector's dword 0 = its LBA,
 *       dword 1 = MAGIC, dword 127 = ~LBA (build-guest.sh writes the disk
 *       that way).
 * The CPU never writes the DMA buffer area: on a postcopy destination the
 * first access to a slot's missing pages is the host kernel's pread() in
 * QEMU's I/O thread (a kernel-mode userfault), unless the verify of a DMA
 * that was in flight at the switch reads the slot first.
 *
 * Why many DMAs per sweep, into rotating slots (measured, QEMU 7.2, TCG):
 * after the switch the source streams dirty pages in address order and
 * jumps to each page the destination asks for, so it runs just ahead of
 * the sweeping guest (plus whatever sits in the socket buffers).  With one
 * DMA at the end of a sweep into one fixed buffer right above 96 MiB, the
 * stream had usually delivered the buffer before the guest's DMA touched
 * it, and a user-mode-only userfaultfd went unnoticed in about half the
 * runs.  A DMA every ~4 MiB of the sweep, into a slot far (in address
 * order) from the previous one, happens long before the stream gets to
 * the buffer area; the negative control then saw tens of DMA-ERR lines in
 * every run.
 *
 * Why one PRD entry: one entry gives QEMU one iovec, so its file-posix
 * driver reads with a plain pread() loop, which reports EFAULT even if
 * the fault is in the middle of the 64 KiB.  With several iovecs a short
 * preadv() makes QEMU silently redo the read through a bounce buffer and
 * memcpy() (a user-mode copy, which a user-mode-only userfaultfd serves)
 * and turn preadv() off for the rest of the process.
 *
 * Serial protocol (COM1, 0x3f8; lines end with "\n"; numbers are hex):
 *   "GUEST-BOOT"                  stage 1 runs (real mode)
 *   "GUEST-DISK-ERR"              stage 1 could not load stage 2 (halts)
 *   "GUEST-START bm=XXXXXXXX"     protected mode, IDE found, loop starts;
 *                                 bm = bus-master I/O base
 *   "P XXXXXXXX e=XXXXXXXX"       progress, every PROGRESS_SWEEPS (32)
 *                                 sweeps (about 0.25 s under TCG): sweep
 *                                 count, DMA-ERR + DMA-BAD lines so far
 *   "DMA-ERR lba=XXXXXXXX buf=XXXXXXXX bm=XX ata=XX why=WORD"
 *                                 a DMA failed: first LBA, slot address,
 *                                 bus-master and ATA status registers;
 *                                 WORD: busy (drive busy before the
 *                                 command), tmo (no completion after
 *                                 POLL_LIMIT polls), bmerr (bus-master
 *                                 error bit), ataerr (ATA ERR or DF bit)
 *   "DMA-BAD lba=XXXXXXXX buf=XXXXXXXX d0=XXXXXXXX d1=XXXXXXXX"
 *                                 the DMA completed but the sector of LBA
 *                                 lba, at buf, holds d0, d1 (first dwords)
 *   "GUEST-FATAL WORD"            no usable IDE controller (halts)
 * The guest keeps going after DMA-ERR / DMA-BAD (one line per bad DMA).
 *
 * Built with VIRTIO=1 (build-guest.sh OUT.img VIRTIO=1), stage 2 does the
 * same reads through a modern virtio-blk PCI device (1af4:1042, e.g.
 * vhost-user-blk-pci with disable-legacy=on) instead of the IDE bus
 * master: it takes the first such device on bus 0, finds its common and
 * notify configuration windows from the vendor capabilities (memory BARs
 * below 4 GiB), negotiates VIRTIO_F_VERSION_1 only, sets up queue 0 with
 * VQ_SIZE (8) entries at VQ_BASE (64 KiB, below the swept range) and for
 * each read posts one request of three descriptors (header, the 64 KiB
 * slot as ONE device-writable descriptor so the back-end gets one iovec,
 * status byte), notifies and polls the used index (an I/O port read per
 * poll, like the IDE loop).  With a vhost-user back-end the read into the
 * slot is the back-end's pread() into guest RAM: on a postcopy
 * destination a kernel-mode fault on the back-end's userfaultfd.  Lines:
 *   "GUEST-START vio=XXXXXXXX"    common configuration address
 *   "DMA-ERR ... bm=SS ata=00 why=WORD"   SS = virtio-blk status byte
 *                                 (ff: never written); WORD: tmo (used
 *                                 index did not move), vioerr (status
 *                                 byte not 0)
 *   "GUEST-FATAL WORD"            no-virtio-blk, no-virtio-caps,
 *                                 bad-bar (not memory below 4 GiB), no-version-1,
 *                                 features-rejected, queue-too-small
 */

/* Defaults; build-guest.sh passes the disk layout with --defsym. */
.ifndef STAGE2_SECTORS
.set STAGE2_SECTORS, 16
.endif
.ifndef DATA_LBA
.set DATA_LBA, 64
.endif
.ifndef DATA_CHUNKS
.set DATA_CHUNKS, 8             /* power of two */
.endif
.ifndef MAGIC
.set MAGIC, 0x44464655          /* "UFFD" */
.endif
.ifndef DMA_SLOTS
.set DMA_SLOTS, 64              /* power of two; 64 KiB each */
.endif
.ifndef SLOT_STRIDE
.set SLOT_STRIDE, 27            /* odd: visits every slot */
.endif
.ifndef DMA_PER_SWEEP
.set DMA_PER_SWEEP, 24
.endif
.ifndef PROGRESS_SWEEPS
.set PROGRESS_SWEEPS, 32
.endif

.set MEM_START,   0x00100000    /* 1 MiB */
.set MEM_END,     0x06000000    /* 96 MiB */
.set PAGE,        4096
.set SEG_BYTES,   ((MEM_END - MEM_START) / DMA_PER_SWEEP + PAGE - 1) / PAGE * PAGE
.set DMA_BUF,     0x06400000    /* 100 MiB */
.set DMA_SECTORS, 128
.set PRD_ADDR,    0x00006000
.set STACK_TOP,   0x00007000
.set COM1,        0x3f8
.set PIIX3_IDE_ID, 0x70108086   /* 8086:7010 */
.set PCI_IDE,     0x80000900    /* bus 0, device 1, function 1 */
.set ATA_BASE,    0x1f0
.set ATA_CTRL,    0x3f6
.set POLL_LIMIT,  20000000      /* status polls before "tmo" */
.set VQ_SIZE,     8             /* power of two */
.set VQ_BASE,     0x00010000    /* desc table; avail +0x100, used +0x200 */
.set VQ_AVAIL,    VQ_BASE + 0x100
.set VQ_USED,     VQ_BASE + 0x200
.set VQ_HDR,      VQ_BASE + 0x300  /* virtio-blk request header (16 bytes) */
.set VQ_STATUS,   VQ_BASE + 0x310  /* its status byte */

    .text
    .code16
    .globl _start
_start:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    $0x7c00, %sp
    ljmp    $0, $1f
1:
    movb    %dl, boot_drive
    movw    $msg_boot, %si
    call    puts16

    movw    $dap, %si
    movb    $0x42, %ah
    movb    boot_drive, %dl
    int     $0x13
    jc      disk_err

    /* fast A20 */
    inb     $0x92, %al
    orb     $0x02, %al
    andb    $0xfe, %al
    outb    %al, $0x92

    lgdt    gdt_desc
    movl    %cr0, %eax
    orl     $1, %eax
    movl    %eax, %cr0
    ljmp    $0x08, $pm_entry

disk_err:
    movw    $msg_disk_err, %si
    call    puts16
2:  hlt
    jmp     2b

/* %si: NUL-terminated string to COM1 */
puts16:
    lodsb
    testb   %al, %al
    jz      1f
    movw    $COM1, %dx
    outb    %al, %dx
    jmp     puts16
1:  ret

    .code32
pm_entry:
    movw    $0x10, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %fs
    movw    %ax, %gs
    movw    %ax, %ss
    movl    $STACK_TOP, %esp
    jmp     main32

    .p2align 3
gdt:
    .quad   0
    .quad   0x00cf9a000000ffff          /* 0x08: code, flat, 32-bit */
    .quad   0x00cf92000000ffff          /* 0x10: data, flat */
gdt_desc:
    .word   gdt_desc - gdt - 1
    .long   gdt

    .p2align 2
dap:
    .byte   0x10, 0
    .word   STAGE2_SECTORS
    .word   0x7e00, 0                   /* offset, segment */
    .quad   1                           /* first LBA */

boot_drive:
    .byte   0x80
msg_boot:
    .asciz  "GUEST-BOOT\n"
msg_disk_err:
    .asciz  "GUEST-DISK-ERR\n"

    .org    510
    .byte   0x55, 0xaa

/* ------------------------------------------------------------------ */
/* stage 2, loaded at 0x7e00 */
stage2:
main32:
.ifdef VIRTIO
    call    vio_init
    movl    $msg_start_vio, %esi
    call    puts
    movl    vio_common, %eax
    call    puthex32
    call    newline
    jmp     main_loop
.endif
    /* PCI 00:01.1 must be the PIIX3 IDE function */
    movl    $PCI_IDE, %eax
    call    pci_read
    cmpl    $PIIX3_IDE_ID, %eax
    je      1f
    movl    $msg_no_ide, %esi
    jmp     fatal
1:
    movl    $PCI_IDE + 0x20, %eax       /* BAR4: bus-master I/O */
    call    pci_read
    testl   $1, %eax
    jz      2f
    andl    $0xfffc, %eax
    jnz     3f
2:  movl    $msg_no_bar, %esi
    jmp     fatal
3:  movl    %eax, bm_base

    /* command register: I/O space (bit 0) + bus master (bit 2) */
    movl    $PCI_IDE + 0x04, %eax
    call    pci_read
    andl    $0x0000ffff, %eax           /* do not write-clear status bits */
    orl     $0x0005, %eax
    movl    %eax, %ebx
    movl    $PCI_IDE + 0x04, %eax
    call    pci_write

    /* device control: interrupts enabled at the drive (IF=0 in the CPU) */
    movw    $ATA_CTRL, %dx
    movb    $0x00, %al
    outb    %al, %dx

    movl    $msg_start, %esi
    call    puts
    movl    bm_base, %eax
    call    puthex32
    call    newline

main_loop:
    /*
     * One sweep: DMA_PER_SWEEP segments of SEG_BYTES; before each segment
     * one DMA (b) + check (c), then (a) on the segment's pages.
     */
    movl    $MEM_START, %edi
seg_loop:
    call    dma_step
    movl    %edi, %ebx
    addl    $SEG_BYTES, %ebx
    cmpl    $MEM_END, %ebx
    jbe     1f
    movl    $MEM_END, %ebx
1:  movl    %edi, %eax
2:  incb    (%eax)
    addl    $PAGE, %eax
    cmpl    %ebx, %eax
    jb      2b
    movl    %ebx, %edi
    cmpl    $MEM_END, %edi
    jb      seg_loop

    incl    sweeps
    movl    sweeps, %eax
    xorl    %edx, %edx
    movl    $PROGRESS_SWEEPS, %ecx
    divl    %ecx
    testl   %edx, %edx
    jnz     main_loop
    movl    $msg_progress, %esi
    call    puts
    movl    sweeps, %eax
    call    puthex32
    movl    $msg_e, %esi
    call    puts
    movl    errors, %eax
    call    puthex32
    call    newline
    jmp     main_loop

/*
 * DMA number n (= dmas): slot (n * SLOT_STRIDE) mod DMA_SLOTS of the
 * buffer area, data chunk (n / DMA_SLOTS) mod DATA_CHUNKS, then check it.
 * Preserves %edi.
 */
dma_step:
    movl    dmas, %eax
    imull   $SLOT_STRIDE, %eax
    andl    $DMA_SLOTS - 1, %eax
    shll    $16, %eax                   /* * 64 KiB */
    addl    $DMA_BUF, %eax
    movl    %eax, cur_buf
    movl    dmas, %eax
    xorl    %edx, %edx
    movl    $DMA_SLOTS, %ecx
    divl    %ecx
    andl    $DATA_CHUNKS - 1, %eax
    shll    $7, %eax                    /* * DMA_SECTORS */
    addl    $DATA_LBA, %eax
    movl    %eax, cur_lba
    incl    dmas
    call    dma_read
    testl   %eax, %eax
    jnz     1f
    call    verify
1:  ret

/*
 * ATA READ DMA of DMA_SECTORS sectors at cur_lba into cur_buf.
 * Returns %eax = 0 on success; on failure prints DMA-ERR, counts it and
 * returns non-zero.
 */
dma_read:
.ifdef VIRTIO
    jmp     vio_read
.endif
    pushl   %ebx
    pushl   %esi
    /* wait until the drive is not busy */
    movl    $POLL_LIMIT, %ecx
1:  movw    $ATA_BASE + 7, %dx
    inb     %dx, %al
    testb   $0x80, %al
    jz      2f
    decl    %ecx
    jnz     1b
    movl    $why_busy, %esi
    jmp     dma_fail
2:
    /*
     * PRD table: ONE entry of 64 KiB (byte count 0 means 64 KiB), marked
     * EOT.  One entry gives QEMU one iovec, so file-posix uses a plain
     * pread() loop, which reports EFAULT even when the fault is in the
     * middle of the buffer.  With several iovecs a short preadv() makes
     * QEMU silently retry through a bounce buffer + memcpy (a user-mode
     * copy) and turn preadv off for good, hiding the failure.
     */
    movl    cur_buf, %eax
    movl    %eax, PRD_ADDR
    movl    $0x80000000, PRD_ADDR + 4

    /* bus master: stop, direction = write to memory, PRD, clear INT/ERR */
    movw    bm_base, %dx
    movb    $0x08, %al
    outb    %al, %dx
    addw    $4, %dx
    movl    $PRD_ADDR, %eax
    outl    %eax, %dx
    subw    $2, %dx
    inb     %dx, %al
    orb     $0x06, %al
    outb    %al, %dx

    /* ATA registers: LBA28, master */
    movl    cur_lba, %ebx
    movw    $ATA_BASE + 6, %dx
    movl    %ebx, %eax
    shrl    $24, %eax
    andb    $0x0f, %al
    orb     $0xe0, %al
    outb    %al, %dx
    movw    $ATA_BASE + 2, %dx
    movb    $DMA_SECTORS, %al
    outb    %al, %dx
    incw    %dx
    movb    %bl, %al
    outb    %al, %dx                    /* 0x1f3: LBA 7:0 */
    incw    %dx
    movb    %bh, %al
    outb    %al, %dx                    /* 0x1f4: LBA 15:8 */
    incw    %dx
    movl    %ebx, %eax
    shrl    $16, %eax
    outb    %al, %dx                    /* 0x1f5: LBA 23:16 */
    movw    $ATA_BASE + 7, %dx
    movb    $0xc8, %al                  /* READ DMA */
    outb    %al, %dx

    /* start the bus master (read from disk = write to memory) */
    movw    bm_base, %dx
    movb    $0x09, %al
    outb    %al, %dx

    /* poll: done when INT is set or ACTIVE is clear */
    movw    bm_base, %dx
    addw    $2, %dx
    movl    $POLL_LIMIT, %ecx
3:  inb     %dx, %al
    testb   $0x04, %al
    jnz     4f
    testb   $0x01, %al
    jz      4f
    decl    %ecx
    jnz     3b
    movl    $why_tmo, %esi
    jmp     dma_fail
4:
    /* then wait for the drive to drop BSY */
    movl    $POLL_LIMIT, %ecx
5:  movw    $ATA_BASE + 7, %dx
    inb     %dx, %al
    testb   $0x80, %al
    jz      6f
    decl    %ecx
    jnz     5b
    movl    $why_tmo, %esi
    jmp     dma_fail
6:
    /* stop the bus master, then look at both status registers */
    movw    bm_base, %dx
    movb    $0x08, %al
    outb    %al, %dx
    addw    $2, %dx
    inb     %dx, %al
    testb   $0x02, %al
    jz      7f
    movl    $why_bmerr, %esi
    jmp     dma_fail
7:  movw    $ATA_BASE + 7, %dx
    inb     %dx, %al
    testb   $0x21, %al                  /* ERR | DF */
    jz      8f
    movl    $why_ataerr, %esi
    jmp     dma_fail
8:  call    bm_clear
    xorl    %eax, %eax
    popl    %esi
    popl    %ebx
    ret

/* %esi = reason word */
dma_fail:
    movw    bm_base, %dx
    movb    $0x08, %al                  /* stop the bus master */
    outb    %al, %dx
    incl    errors
    pushl   %esi
    movl    $msg_dma_err, %esi
    call    puts
    movl    cur_lba, %eax
    call    puthex32
    movl    $msg_buf, %esi
    call    puts
    movl    cur_buf, %eax
    call    puthex32
    movl    $msg_bm, %esi
    call    puts
    movw    bm_base, %dx
    addw    $2, %dx
    inb     %dx, %al
    call    puthex8
    movl    $msg_ata, %esi
    call    puts
    movw    $ATA_BASE + 7, %dx
    inb     %dx, %al
    call    puthex8
    movl    $msg_why, %esi
    call    puts
    popl    %esi
    call    puts
    call    newline
    call    bm_clear
    movl    $1, %eax
    popl    %esi
    popl    %ebx
    ret

/* clear the bus-master INT and ERR bits (write-1-to-clear) */
bm_clear:
    movw    bm_base, %dx
    addw    $2, %dx
    inb     %dx, %al
    orb     $0x06, %al
    outb    %al, %dx
    ret

/* check DMA_SECTORS sectors at cur_buf against cur_lba; prints DMA-BAD once */
verify:
    pushl   %ebx
    pushl   %esi
    movl    cur_buf, %esi
    movl    cur_lba, %ebx
    movl    $DMA_SECTORS, %ecx
1:  cmpl    %ebx, (%esi)
    jne     2f
    cmpl    $MAGIC, 4(%esi)
    jne     2f
    movl    %ebx, %eax
    notl    %eax
    cmpl    %eax, 508(%esi)
    jne     2f
    addl    $512, %esi
    incl    %ebx
    decl    %ecx
    jnz     1b
    popl    %esi
    popl    %ebx
    ret
2:  incl    errors
    pushl   %esi
    movl    $msg_dma_bad, %esi
    call    puts
    movl    %ebx, %eax
    call    puthex32
    movl    $msg_buf, %esi
    call    puts
    movl    (%esp), %eax                /* saved %esi: the bad sector */
    call    puthex32
    movl    $msg_d0, %esi
    call    puts
    popl    %esi
    pushl   %esi
    movl    (%esi), %eax
    call    puthex32
    movl    $msg_d1, %esi
    call    puts
    popl    %esi
    movl    4(%esi), %eax
    call    puthex32
    call    newline
    popl    %esi
    popl    %ebx
    ret

/* ---- virtio-blk (VIRTIO=1) ---------------------------------------- */
.ifdef VIRTIO
/* find and set up the device; on any failure print GUEST-FATAL and halt */
vio_init:
    /* bus 0: the first function 0 with 1af4:1042 */
    movl    $0x80000000, %edi
1:  movl    %edi, %eax
    call    pci_read
    cmpl    $0x10421af4, %eax
    je      2f
    addl    $0x800, %edi                /* next device */
    cmpl    $0x80010000, %edi
    jb      1b
    movl    $msg_no_vio, %esi
    jmp     fatal
2:  movl    %edi, vio_pci
    /* command: memory space (bit 1) + bus master (bit 2) */
    leal    4(%edi), %eax
    call    pci_read
    andl    $0x0000ffff, %eax
    orl     $0x0006, %eax
    movl    %eax, %ebx
    leal    4(%edi), %eax
    call    pci_write
    /* walk the capability list for virtio cfg_type 1 (common), 2 (notify) */
    leal    0x34(%edi), %eax
    call    pci_read
    andl    $0xfc, %eax
3:  testl   %eax, %eax
    jz      6f
    movl    %eax, %esi                  /* capability offset */
    leal    (%edi,%esi), %eax
    call    pci_read                    /* id, next, len, cfg_type */
    movl    %eax, %ecx
    cmpb    $0x09, %cl                  /* vendor specific */
    jne     5f
    shrl    $24, %ecx                   /* cfg_type */
    cmpl    $1, %ecx
    je      4f
    cmpl    $2, %ecx
    jne     5f
4:  call    vio_cap_addr                /* %eax = window address */
    cmpl    $1, %ecx
    jne     41f
    movl    %eax, vio_common
    jmp     5f
41: movl    %eax, vio_notify
    leal    16(%edi,%esi), %eax         /* notify_off_multiplier */
    call    pci_read
    movl    %eax, vio_notify_mul
5:  leal    (%edi,%esi), %eax
    call    pci_read
    shrl    $8, %eax
    andl    $0xfc, %eax                 /* next */
    jmp     3b
6:  cmpl    $0, vio_common
    je      7f
    cmpl    $0, vio_notify
    jne     8f
7:  movl    $msg_no_caps, %esi
    jmp     fatal
8:  movl    vio_common, %ebx
    movb    $0, 0x14(%ebx)              /* reset */
9:  cmpb    $0, 0x14(%ebx)
    jne     9b
    movb    $0x01, 0x14(%ebx)           /* ACKNOWLEDGE */
    movb    $0x03, 0x14(%ebx)           /* | DRIVER */
    movl    $1, 0x00(%ebx)              /* device features 63:32 */
    testl   $1, 0x04(%ebx)              /* VIRTIO_F_VERSION_1 (bit 32) */
    jnz     10f
    movl    $msg_no_v1, %esi
    jmp     fatal
10: movl    $0, 0x08(%ebx)
    movl    $0, 0x0c(%ebx)              /* features 31:0: none */
    movl    $1, 0x08(%ebx)
    movl    $1, 0x0c(%ebx)              /* features 63:32: VERSION_1 */
    movb    $0x0b, 0x14(%ebx)           /* | FEATURES_OK */
    testb   $0x08, 0x14(%ebx)
    jnz     11f
    movl    $msg_feat, %esi
    jmp     fatal
11: movw    $0, 0x16(%ebx)              /* queue_select = 0 */
    cmpw    $VQ_SIZE, 0x18(%ebx)
    jae     12f
    movl    $msg_qsize, %esi
    jmp     fatal
12: movw    $VQ_SIZE, 0x18(%ebx)
    /* the rings: zeroed, no interrupts wanted */
    movl    $VQ_BASE, %edi
    movl    $0x400 / 4, %ecx
    xorl    %eax, %eax
    cld
    rep stosl
    movw    $1, VQ_AVAIL                /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    movl    $VQ_BASE, 0x20(%ebx)        /* queue_desc */
    movl    $0, 0x24(%ebx)
    movl    $VQ_AVAIL, 0x28(%ebx)       /* queue_driver */
    movl    $0, 0x2c(%ebx)
    movl    $VQ_USED, 0x30(%ebx)        /* queue_device */
    movl    $0, 0x34(%ebx)
    movzwl  0x1e(%ebx), %eax            /* queue_notify_off */
    imull   vio_notify_mul, %eax
    addl    %eax, vio_notify
    movw    $1, 0x1c(%ebx)              /* queue_enable */
    movb    $0x0f, 0x14(%ebx)           /* | DRIVER_OK */
    /* the three descriptors of every request; only the slot changes */
    movl    $VQ_HDR, VQ_BASE + 0x00     /* 0: header, device-readable */
    movl    $16, VQ_BASE + 0x08
    movw    $1, VQ_BASE + 0x0c          /* NEXT */
    movw    $1, VQ_BASE + 0x0e
    movl    $DMA_SECTORS * 512, VQ_BASE + 0x18  /* 1: the slot */
    movw    $3, VQ_BASE + 0x1c          /* NEXT | WRITE */
    movw    $2, VQ_BASE + 0x1e
    movl    $VQ_STATUS, VQ_BASE + 0x20  /* 2: status byte */
    movl    $1, VQ_BASE + 0x28
    movw    $2, VQ_BASE + 0x2c          /* WRITE */
    ret

/*
 * %eax = address of the window of the capability at %esi of device %edi:
 * its BAR (memory, below 4 GiB) + its offset.  Preserves %ecx, %esi, %edi.
 */
vio_cap_addr:
    pushl   %ecx
    leal    4(%edi,%esi), %eax
    call    pci_read
    andl    $0xff, %eax                 /* bar */
    cmpl    $5, %eax
    ja      2f
    leal    0x10(%edi,%eax,4), %ecx     /* BAR register */
    movl    %ecx, %eax
    call    pci_read
    testl   $1, %eax                    /* I/O BAR: not used by QEMU here */
    jnz     2f
    movl    %eax, %ebx
    andl    $0x06, %eax
    cmpl    $0x04, %eax                 /* 64-bit: upper half must be 0 */
    jne     1f
    leal    4(%ecx), %eax
    call    pci_read
    testl   %eax, %eax
    jnz     2f
1:  andl    $0xfffffff0, %ebx
    jz      2f
    leal    8(%edi,%esi), %eax          /* offset */
    call    pci_read
    addl    %ebx, %eax
    popl    %ecx
    ret
2:  movl    $msg_bar_high, %esi
    jmp     fatal

/* virtio-blk IN of DMA_SECTORS at cur_lba into cur_buf; as dma_read */
vio_read:
    pushl   %ebx
    pushl   %esi
    movl    $0, VQ_HDR                  /* VIRTIO_BLK_T_IN */
    movl    $0, VQ_HDR + 4
    movl    cur_lba, %eax
    movl    %eax, VQ_HDR + 8            /* sector */
    movl    $0, VQ_HDR + 12
    movb    $0xff, VQ_STATUS
    movl    cur_buf, %eax
    movl    %eax, VQ_BASE + 0x10        /* descriptor 1: the slot */
    movl    $0, VQ_BASE + 0x14
    movzwl  VQ_AVAIL + 2, %eax          /* avail idx */
    movl    %eax, %ecx
    andl    $VQ_SIZE - 1, %ecx
    movw    $0, VQ_AVAIL + 4(,%ecx,2)   /* ring[idx % size] = head 0 */
    incl    %eax
    movw    %ax, VQ_AVAIL + 2           /* x86 keeps stores in order */
    movl    %eax, %ebx                  /* the used idx to wait for */
    mfence
    movl    vio_notify, %edx
    movw    $0, (%edx)                  /* notify queue 0 */
    movl    $POLL_LIMIT, %ecx
1:  cmpw    %bx, VQ_USED + 2
    je      2f
    inb     $0x80, %al                  /* pace the loop like the IDE one */
    decl    %ecx
    jnz     1b
    movl    $why_tmo, %esi
    jmp     vio_fail
2:  cmpb    $0, VQ_STATUS
    je      3f
    movl    $why_vioerr, %esi
    jmp     vio_fail
3:  xorl    %eax, %eax
    popl    %esi
    popl    %ebx
    ret

/* %esi = reason word; the same line as dma_fail, bm = status byte */
vio_fail:
    incl    errors
    pushl   %esi
    movl    $msg_dma_err, %esi
    call    puts
    movl    cur_lba, %eax
    call    puthex32
    movl    $msg_buf, %esi
    call    puts
    movl    cur_buf, %eax
    call    puthex32
    movl    $msg_bm, %esi
    call    puts
    movb    VQ_STATUS, %al
    call    puthex8
    movl    $msg_ata, %esi
    call    puts
    xorl    %eax, %eax
    call    puthex8
    movl    $msg_why, %esi
    call    puts
    popl    %esi
    call    puts
    call    newline
    movl    $1, %eax
    popl    %esi
    popl    %ebx
    ret
.endif

fatal:
    movl    %esi, %ebx
    movl    $msg_fatal, %esi
    call    puts
    movl    %ebx, %esi
    call    puts
    call    newline
1:  hlt
    jmp     1b

/* PCI config: %eax = address -> %eax = dword */
pci_read:
    movw    $0xcf8, %dx
    outl    %eax, %dx
    movw    $0xcfc, %dx
    inl     %dx, %eax
    ret

/* PCI config: %eax = address, %ebx = dword */
pci_write:
    movw    $0xcf8, %dx
    outl    %eax, %dx
    movw    $0xcfc, %dx
    movl    %ebx, %eax
    outl    %eax, %dx
    ret

/* serial output; all preserve every register but %eax/%edx/%esi */
putc:                                   /* %al */
    pushl   %ecx
    movb    %al, %ah
    movw    $COM1 + 5, %dx
    movl    $100000, %ecx
1:  inb     %dx, %al
    testb   $0x20, %al                  /* THR empty */
    jnz     2f
    decl    %ecx
    jnz     1b
2:  movb    %ah, %al
    movw    $COM1, %dx
    outb    %al, %dx
    popl    %ecx
    ret

puts:                                   /* %esi */
1:  movb    (%esi), %al
    testb   %al, %al
    jz      2f
    call    putc
    incl    %esi
    jmp     1b
2:  ret

newline:
    movb    $'\n', %al
    jmp     putc

puthex32:                               /* %eax */
    pushl   %ecx
    pushl   %ebx
    movl    %eax, %ebx
    movl    $8, %ecx
1:  roll    $4, %ebx
    movl    %ebx, %eax
    call    hexdigit
    decl    %ecx
    jnz     1b
    popl    %ebx
    popl    %ecx
    ret

puthex8:                                /* %al */
    pushl   %ebx
    movb    %al, %bl
    movb    %bl, %al
    shrb    $4, %al
    call    hexdigit
    movb    %bl, %al
    call    hexdigit
    popl    %ebx
    ret

hexdigit:                               /* low nibble of %al */
    andl    $0x0f, %eax
    movb    hexchars(%eax), %al
    jmp     putc

hexchars:       .ascii  "0123456789abcdef"
msg_start:      .asciz  "GUEST-START bm="
msg_progress:   .asciz  "P "
msg_e:          .asciz  " e="
msg_dma_err:    .asciz  "DMA-ERR lba="
msg_buf:        .asciz  " buf="
msg_bm:         .asciz  " bm="
msg_ata:        .asciz  " ata="
msg_why:        .asciz  " why="
msg_dma_bad:    .asciz  "DMA-BAD lba="
msg_d0:         .asciz  " d0="
msg_d1:         .asciz  " d1="
msg_fatal:      .asciz  "GUEST-FATAL "
msg_no_ide:     .asciz  "no-piix3-ide"
msg_no_bar:     .asciz  "no-busmaster-bar"
why_busy:       .asciz  "busy"
why_tmo:        .asciz  "tmo"
why_bmerr:      .asciz  "bmerr"
why_ataerr:     .asciz  "ataerr"
.ifdef VIRTIO
msg_start_vio:  .asciz  "GUEST-START vio="
msg_no_vio:     .asciz  "no-virtio-blk"
msg_no_caps:    .asciz  "no-virtio-caps"
msg_bar_high:   .asciz  "bad-bar"
msg_no_v1:      .asciz  "no-version-1"
msg_feat:       .asciz  "features-rejected"
msg_qsize:      .asciz  "queue-too-small"
why_vioerr:     .asciz  "vioerr"
.endif

    .p2align 2
bm_base:        .long   0
cur_lba:        .long   0
cur_buf:        .long   0
dmas:           .long   0
sweeps:         .long   0
errors:         .long   0
.ifdef VIRTIO
vio_pci:        .long   0
vio_common:     .long   0
vio_notify:     .long   0
vio_notify_mul: .long   0
.endif

    /* pad stage 2 to its size; fails to assemble if the code outgrows it */
    .org    512 + STAGE2_SECTORS * 512
