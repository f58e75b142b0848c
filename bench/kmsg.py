#!/usr/bin/env python3
"""The last records of a Linux kernel's printk ring buffer, read from a file that holds
the machine's RAM (the bench VM's memory-backend-file) after QEMU has exited.

Usage: bench/kmsg.py SYSTEM_MAP CONFIG RAM_FILE [N]

Prints the last N (40) records in sequence order, "[seconds] text", each line marked
"BENCH: kmsg: ". It is what the kernel had logged when the VM ended, including what a
crash kept from reaching the serial console. For kernels built without CONFIG_RELOCATABLE
(the bench's): kernel image addresses map to physical ones by __START_KERNEL_map, direct
map addresses by page_offset_base.
"""
import struct
import sys

START_KERNEL_MAP = 0xffffffff80000000


def symbols(path):
    syms = {}
    with open(path) as f:
        for line in f:
            addr, _, name = line.split()[:3]
            syms.setdefault(name, int(addr, 16))
    return syms


def config(path):
    conf = {}
    with open(path) as f:
        for line in f:
            if line.startswith("CONFIG_") and "=" in line:
                k, v = line.strip().split("=", 1)
                conf[k] = v
    return conf


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    syms = symbols(sys.argv[1])
    conf = config(sys.argv[2])
    want = int(sys.argv[4]) if len(sys.argv) == 5 else 40
    ram = open(sys.argv[3], "rb")

    def read(phys, n):
        ram.seek(phys)
        b = ram.read(n)
        if len(b) != n:
            raise ValueError(f"physical address {phys:#x} is past the RAM file")
        return b

    def u64(phys):
        return struct.unpack("<Q", read(phys, 8))[0]

    pob = u64(syms["page_offset_base"] - START_KERNEL_MAP)

    def phys(virt):
        return virt - START_KERNEL_MAP if virt >= START_KERNEL_MAP else virt - pob

    rb = phys(u64(phys(syms["prb"])))
    count_bits, descs, infos = struct.unpack("<I4xQQ", read(rb, 24))
    size_bits, data = struct.unpack("<I4xQ", read(rb + 48, 16))
    descs, infos, data = phys(descs), phys(infos), phys(data)
    # struct printk_info: seq, ts_nsec, text_len, facility, flags:5 level:3, caller_id,
    # [caller_id2, comm[16]], dev_info (16 + 48)
    info_size = 88 + (20 if conf.get("CONFIG_PRINTK_EXECUTION_CTX") == "y" else 0)
    info_size = (info_size + 7) & ~7
    count, size = 1 << count_bits, 1 << size_bits
    id_mask = (1 << 62) - 1
    blob = read(data, size)
    records = []
    for i in range(count):
        sv, begin, nxt = struct.unpack("<QQQ", read(descs + 24 * i, 24))
        if sv >> 62 not in (1, 2):    # committed or finalized (reserved: being written)
            continue
        seq, ts, text_len = struct.unpack("<QQH", read(infos + info_size * i, 18))
        if begin & 1 or nxt & 1:      # no data (a record without text)
            continue
        off = begin % size
        if begin // size != nxt // size:   # wrapped: the block is at the ring's start
            off = 0
        if off + 8 + text_len > size:
            continue
        if struct.unpack("<Q", blob[off:off + 8])[0] != sv & id_mask:
            continue                  # the data was reused by a later record
        text = blob[off + 8:off + 8 + text_len].decode("utf-8", "replace")
        records.append((seq, ts, text))
    records.sort()
    for seq, ts, text in records[-want:]:
        for line in text.splitlines() or [""]:
            print(f"BENCH: kmsg: [{ts // 1000000000:5d}.{ts % 1000000000 // 1000:06d}] {line}")
    if not records:
        print("BENCH: kmsg: no record found in the RAM file")


if __name__ == "__main__":
    main()
