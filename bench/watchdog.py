#!/usr/bin/env python3
"""Run the bench VM's QEMU and stop it when the VM freezes.

Usage: watchdog.py LOG BEAT MONITOR LIMIT -- QEMU-COMMAND...

QEMU's first serial line goes to LOG (the console), its second to BEAT, where
bench/init writes a line every few seconds. The VM is alive while either grows.
After FREEZE_SECS (60) of silence in both (FREEZE_BOOT_SECS, 300, before the
first heartbeat), the VM is frozen: the watchdog asks QEMU's monitor (the HMP
socket MONITOR) for each CPU's registers and local APIC, samples the QEMU
threads' CPU use, saves the VM's state and reads from it what the monitor does
not show (GIF, the SVM interrupt flags, pending interrupt requests), appends all
of it to LOG behind "BENCH: FROZEN", and kills QEMU. LIMIT seconds in all: a
timeout, as before. Exits with QEMU's status, 124 on the timeout, 125 on a freeze.
"""
import os
import signal
import socket
import subprocess
import sys
import time


def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# register lines that say nothing about a freeze
NOISE = ("FPR", "XMM", "YMM", "ZMM", "FCW", "DR", "Opmask")


def hmp(path, cmds):
    """Each command's answer from the HMP socket at @path."""
    out = []
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        buf = b""
        for c in [None] + cmds:
            if c is not None:
                s.sendall(c.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"(qemu) "):
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            if c is not None:
                text = buf.decode(errors="replace").replace("\r", "")
                text = text.rsplit("(qemu) ", 1)[0]
                # the echo of the command itself
                lines = [x for x in text.split("\n") if x.strip() and not x.startswith(c[:4])
                         and "\x1b" not in x and not x.startswith(NOISE)]
                out.append((c, lines))
        s.close()
    except OSError as e:
        out.append(("monitor", [f"no answer: {e}"]))
    return out


def threads(pid):
    """{tid: (name, state, utime+stime ticks)} of QEMU's threads"""
    t = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    s = f.read()
                name = s[s.index("(") + 1:s.rindex(")")]
                rest = s[s.rindex(")") + 2:].split()
                t[tid] = (name, rest[0], int(rest[11]) + int(rest[12]))
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return t


def sample(pid, mon, ncpu):
    lines = []
    t0 = threads(pid)
    time.sleep(2)
    t1 = threads(pid)
    hz = os.sysconf("SC_CLK_TCK")
    for tid in sorted(t1, key=int):
        name, state, ticks = t1[tid]
        used = (ticks - t0.get(tid, (name, state, ticks))[2]) * 100 / (2 * hz)
        if used >= 1 or "CPU" in name:
            lines.append(f"thread {tid} {name}: state {state}, {used:.0f}% CPU over 2 s")
    cmds = ["info status", "info cpus"]
    for c in range(ncpu):
        cmds += [f"cpu {c}", "info registers", f"info lapic {c}"]
    for c, ans in hmp(mon, cmds):
        if c.startswith("cpu "):
            continue
        lines.append(f"({c})")
        lines += ans
    return lines


ANALYZE = "/var/cache/kvm-vmclock/qemu-build/work/qemu-10.0.2/scripts/analyze-migration.py"


def flags(val, names):
    return "|".join(n for b, n in names if val & b) or "-"


def hidden(mon, mig):
    """What HMP does not show (GIF, the SVM interrupt flags, the CPU's pending
    interrupt requests), from the VM's state saved with "migrate" and read back by
    QEMU's scripts/analyze-migration.py. The VM stops for it: last."""
    lines = []
    if hmp(mon, ["info status"])[0][0] == "monitor":
        return ["saved state: none, the monitor does not answer"]
    hmp(mon, [f'migrate "exec:cat > {mig}"'])
    for _ in range(60):
        time.sleep(1)
        st = [l for c, a in hmp(mon, ["info migrate"]) for l in a if "status:" in l]
        if st and ("completed" in st[0] or "failed" in st[0]):
            break
    lines.append(f"saved state: {st[0] if st else 'no migration status'}")
    tool = os.environ.get("ANALYZE_MIGRATION", ANALYZE)
    if not (st and "completed" in st[0] and os.path.exists(tool)):
        return lines
    import json
    try:
        d = json.loads(subprocess.run([sys.executable, tool, "-f", mig], capture_output=True,
                                      timeout=120).stdout)
    except (ValueError, subprocess.TimeoutExpired) as e:
        return lines + [f"analyze-migration: {e}"]
    common = None
    n = 0
    for k, v in d.items():
        if k.startswith("cpu_common "):
            common = v
        elif k.startswith("cpu ") and common is not None:
            h, h2 = int(v["env.hflags"], 16), int(v["env.hflags2"], 16)
            irq = int(common["interrupt_request"], 16)
            lines.append(
                f"CPU {n}: halted {int(common['halted'], 16)}, RIP {v['env.eip']}, "
                f"RFLAGS {v['env.eflags']} (IF {int(v['env.eflags'], 16) >> 9 & 1}), "
                f"hflags {v['env.hflags']} ({flags(h, HFLAGS)}), "
                f"hflags2 {v['env.hflags2']} ({flags(h2, HFLAGS2)}; GIF {h2 & 1}), "
                f"interrupt_request {common['interrupt_request']} ({flags(irq, IRQS)}), "
                f"v_tpr {v.get('env.v_tpr', '?')}, VMCB {v.get('env.vm_vmcb', '?')}")
            common = None
            n += 1
    return lines


# target/i386/cpu.h, include/hw/core/cpu.h
HFLAGS = [(1 << 3, "INHIBIT_IRQ"), (1 << 19, "SMM"), (1 << 21, "GUEST")]
HFLAGS2 = [(1 << 0, "GIF"), (1 << 1, "HIF"), (1 << 2, "NMI"), (1 << 3, "VINTR"),
           (1 << 4, "SMM_INSIDE_NMI"), (1 << 5, "MPX_PR"), (1 << 6, "NPT"),
           (1 << 7, "IGNNE"), (1 << 8, "VGIF")]
IRQS = [(0x2, "HARD"), (0x4, "EXITTB"), (0x10, "POLL"), (0x20, "HALT"), (0x40, "SMI"),
        (0x80, "DEBUG"), (0x100, "VIRQ"), (0x200, "NMI"), (0x400, "INIT"), (0x800, "SIPI"),
        (0x1000, "MCE"), (0x2000, "TPR")]


def main():
    logf, beatf, mon, limit = sys.argv[1:5]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    limit = int(limit)
    quiet = int(os.environ.get("FREEZE_SECS", "60"))
    # before /init's first heartbeat: the kernel's boot (KUnit included) prints as it goes
    quiet_boot = int(os.environ.get("FREEZE_BOOT_SECS", "300"))
    ncpu = int(os.environ.get("FREEZE_NCPU", "2"))
    with open(logf, "wb") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    signal.signal(signal.SIGTERM, lambda *a: (p.kill(), sys.exit(143)))
    start = last = time.monotonic()
    seen = (-1, -1)
    status = None
    while status is None:
        try:
            status = p.wait(timeout=1)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        cur = (size(logf), size(beatf))
        if cur != seen:
            seen, last = cur, now
        if now - start > limit:
            p.kill()
            p.wait()
            with open(logf, "a") as f:
                f.write(f"\nBENCH: timeout after {limit}s\n")
            return 124
        if now - last > (quiet if seen[1] > 0 else quiet_boot):
            with open(logf, "rb") as f:
                f.seek(max(0, seen[0] - 300))
                tail = f.read().decode(errors="replace").strip().split("\n")[-1]
            with open(beatf, "rb") as f:
                beat = f.read().decode(errors="replace").strip().split("\n")[-1:] or [""]
            report = sample(p.pid, mon, ncpu)
            if os.environ.get("FREEZE_DUMP", "1") != "0":
                report += hidden(mon, logf + ".frozen.mig")
            p.kill()
            p.wait()
            with open(logf, "a") as f:
                f.write(f"\nBENCH: FROZEN: no output on either serial line for {now - last:.0f}s, "
                        f"{now - start:.0f}s after QEMU started; the last console line: {tail!r}; "
                        f"the last heartbeat: {beat[0]!r}\n")
                for l in report:
                    f.write(f"BENCH: frozen: {l}\n")
            return 125
    return status


if __name__ == "__main__":
    sys.exit(main())
