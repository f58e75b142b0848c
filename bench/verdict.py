#!/usr/bin/env python3
"""Turn a bench VM's serial log into one verdict.

The log holds the kernel's console (KUnit's KTAP is printed at boot, before init)
and, after "BENCH: selftests start", the TAP that bench/init prints for each
selftest, with the test's own output behind "# ". Prints every test's result,
then "N passed, N failed, N skipped"; exits 1 on any failure, on a VM that did
not finish, and on any kernel splat anywhere in the log.

verdict.py --kunit SUITE[,SUITE...] LOG: a boot that ran only KUnit (bench/init with
bench.kunit=1, for make series-check at each patch): SUITE must have run, every
case must pass, the VM must have reached /init, and no kernel splat.
"""
import os
import re
import sys

# Kernel messages that mean something went wrong, wherever they appear.
SPLATS = [
    r"WARNING: CPU: \d+", r"^WARNING: \S+:\d+ at ", r"-+\[ cut here \]-+", r"\bBUG: ", r"Kernel panic", r"\bOops\b", r"Call Trace:",
    r"general protection fault", r"KASAN: ", r"UBSAN: ", r"possible circular locking",
    r"possible recursive locking", r"inconsistent lock state", r"suspicious RCU usage",
    r"INFO: rcu_\w+ (self-)?detected stall", r"rcu: INFO: ", r"sleeping function called from invalid context",
    r"ODEBUG: ", r"list_(add|del) corruption", r"INFO: task .* blocked for more than",
    r"WARNING: possible", r"lockdep: ", r"hung_task", r"soft lockup", r"hard LOCKUP",
]
SPLAT_RE = re.compile("|".join(SPLATS))
TAP_RE = re.compile(r"^(\s*)(not ok|ok) (\d+) (?:- )?([^#]*?)\s*(?:#\s*(.*))?$")
# printk may prefix a timestamp
TS_RE = re.compile(r"^\[\s*\d+\.\d+\] ")
# the nested guest's console lines in the end-to-end test's output
L2_RE = re.compile(r"^(# )*L2: (\[\s*\d+\.\d+\] )?")


# KUnit suites the bench kernel must run (bench/config/fast.config enables them)
EXPECTED_KUNIT_SUITES = ["kvm_vmclock", "kvm_vmclock_ntp"]
# how many of a failed selftest's own lines the verdict repeats
CONTEXT = 15

def main():
    args = sys.argv[1:]
    kunit_only = None
    if args and args[0] == "--kunit":
        kunit_only, args = args[1], args[2:]
    path = args[0]
    with open(path, errors="replace") as f:
        lines = [TS_RE.sub("", l.rstrip("\r\n")) for l in f]

    results = []  # (kind, name, status, note)
    context = {}  # index in results -> the test's own lines before a failed result
    known = []
    kfile = os.path.join(os.path.dirname(os.path.abspath(__file__)), "known-splats")
    for kl in open(kfile):
        if kl.strip() and not kl.startswith("#"):
            head, sig, why = kl.rstrip("\n").split("\t", 2)
            known.append((re.compile(head), re.compile(sig), why))
    splats = []
    known_seen = []
    covered = set()  # lines that belong to a known report
    for i, l in enumerate(lines):
        for head, sig, why in known:
            if head.search(l) and any(sig.search(x) for x in lines[i:i + 80]):
                end = next((j for j in range(i + 1, min(i + 200, len(lines)))
                            if lines[j].startswith("---[ end trace")
                            or lines[j].strip() == "</TASK>"), min(i + 80, len(lines) - 1))
                covered.update(range(i, end + 1))
                known_seen.append((i + 1, l.strip(), why))
    for i, l in enumerate(lines):
        # The nested guest's console, forwarded by the end-to-end test: "# # L2: ..."
        l2 = L2_RE.sub("", l)
        if (SPLAT_RE.search(l) or SPLAT_RE.search(l2)) and i not in covered:
            splats.append((i + 1, l))

    try:
        start = lines.index("BENCH: selftests start")
    except ValueError:
        start = len(lines)
    if kunit_only:
        start = len(lines)

    # KUnit: KTAP before init. Leaves are test cases (indented); a suite line
    # (indented less) is counted only when it has no cases of its own.
    stack = []
    for l in lines[:start]:
        m = TAP_RE.match(l)
        if not m:
            continue
        indent, ok, _, name, directive = m.groups()
        status = "pass" if ok == "ok" else "fail"
        if directive and directive.upper().startswith("SKIP"):
            status = "skip"
        depth = len(indent)
        # a result at depth d closes every result deeper than d
        children = [r for r in stack if r[0] > depth]
        stack = [r for r in stack if r[0] <= depth]
        if children:
            for r in children:
                results.append(("kunit", r[1], r[2], r[3]))
            if status == "fail" and all(r[2] != "fail" for r in children):
                results.append(("kunit", name, status, directive or ""))
        else:
            stack.append((depth, name, status, directive or ""))
    for r in stack:
        results.append(("kunit", r[1], r[2], r[3]))

    # Selftests: subtest lines behind "# " belong to the next top-level result.
    sub = []
    said = []  # the test's lines since its last result
    planned = None
    seen_top = 0
    for l in lines[start:]:
        if l.startswith("1..") and planned is None:
            planned = int(l[3:].split()[0])
            continue
        if l.startswith("# "):
            m = TAP_RE.match(l[2:])
            if m and not m.group(1):
                ok, _, name, directive = m.group(2, 3, 4, 5)
                st = "pass" if ok == "ok" else "fail"
                if directive and directive.upper().startswith("SKIP"):
                    st = "skip"
                sub.append((name, st, directive or "", said[-CONTEXT:]))
                said = []
            else:
                said.append(l)
            continue
        m = TAP_RE.match(l)
        if not m or m.group(1):
            continue
        seen_top += 1
        ok, _, name, directive = m.group(2, 3, 4, 5)
        st = "pass" if ok == "ok" else "fail"
        if directive and directive.upper().startswith("SKIP"):
            st = "skip"
        if sub:
            for s in sub:
                if s[1] == "fail":
                    context[len(results)] = s[3]
                results.append(("selftest", f"{name}: {s[0]}", s[1], s[2]))
            if st == "fail" and all(s[1] != "fail" for s in sub):
                context[len(results)] = said[-CONTEXT:]
                results.append(("selftest", name, "fail", directive or ""))
        else:
            if st == "fail":
                context[len(results)] = said[-CONTEXT:]
            results.append(("selftest", name, st, directive or ""))
        sub = []
        said = []

    finished = ("BENCH: kunit done" if kunit_only else "BENCH: done") in lines
    for i, (kind, name, st, note) in enumerate(results):
        word = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[st]
        print(f"{word:4} {kind:8} {name}" + (f"  ({note})" if note else ""))
    # a failure's own words, again at the end, where a CI excerpt keeps them
    for i in sorted(context):
        print(f"FAIL {results[i][1][:100]}: the test's last {len(context[i])} lines before it")
        for l in context[i]:
            print("     | " + l[:400])
    problems = []
    frozen = [l for l in lines if l.startswith("BENCH: FROZEN")]
    for l in frozen:
        problems.append("the VM froze (bench/watchdog.py): " + l[len("BENCH: FROZEN: "):])
    if not finished and not frozen:
        problems.append("the VM did not finish (no 'BENCH: done'; crash or timeout)")
    if kunit_only:
        pass
    elif planned is None:
        problems.append("no selftest plan in the log")
    elif seen_top != planned:
        problems.append(f"{seen_top} of {planned} planned selftests reported")
    if not any(k == "kunit" for k, *_ in results):
        problems.append("no KUnit results in the log")
    # The series' own KUnit suites must have run (a config that lost them
    # would otherwise pass silently).
    for suite in kunit_only.split(",") if kunit_only else EXPECTED_KUNIT_SUITES:
        if not any(l.strip() == f"# Subtest: {suite}" for l in lines[:start]):
            problems.append(f"KUnit suite {suite} did not run")
    for n, l in splats[:20]:
        problems.append(f"kernel splat at log line {n}: {l.strip()}")
    # issue 26: what the outer QEMU's MTTCG does to text patched at run time
    if any("Oops: int3" in l for _, l in splats):
        problems.append("an int3 that no text patch claimed ('Oops: int3'): a vCPU ran a static "
                        "key's site as it was before its patch, seen only under QEMU's TCG with a "
                        "thread per vCPU (bench/keyflip.sh reproduces it without KVM; "
                        "docs/bench.md). The fast kernel patches no text after boot; the "
                        "debug kernel does when a tracepoint is turned on (static calls)")
    npass = sum(r[2] == "pass" for r in results)
    nfail = sum(r[2] == "fail" for r in results) + len(problems)
    nskip = sum(r[2] == "skip" for r in results)
    for n, l, why in known_seen:
        print(f"KNOWN bench    kernel report at log line {n}: {l} ({why.split(';')[0]})")
    # the end-to-end test's known fault of the bench (a nested guest's reset)
    for l in lines:
        if l.startswith("# # KNOWN bench: "):
            print("KNOWN bench    " + l[len("# # KNOWN bench: "):].rstrip())
    # what bench/watchdog.py sampled of a frozen VM
    for l in lines:
        if l.startswith("BENCH: frozen: "):
            print("FROZE bench   " + l[len("BENCH: frozen: "):])
    # a VM that ended early: what its kernel logged last (bench/boot.sh, bench/kmsg.py)
    if not finished:
        for l in lines:
            if l.startswith("BENCH: qemu: ") or l.startswith("BENCH: kmsg: "):
                print("ENDED bench   " + l[len("BENCH: "):][:300])
    for p in problems:
        print(f"FAIL bench    {p}")
    print(f"{npass} passed, {nfail} failed, {nskip} skipped")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
