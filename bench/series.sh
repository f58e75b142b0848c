#!/usr/bin/env bash
# make series: the patched tree's commits as a mailing-list-ready series in build/series
# (git format-patch --cover-letter --base), with the cover letter from patches/cover-letter.
. "$(dirname "$0")/lib.sh"
out=$BUILD/series
rm -rf "$out" && mkdir -p "$out"
git -C "$SRC" format-patch -q --cover-letter --base=base --subject-prefix="PATCH" \
	-o "$out" base..series-kvm
cover=$(ls "$out"/0000-cover-letter.patch)
subject=$(sed -n 's/^Subject: //p' "$TOP/patches/cover-letter")
# The people the series should reach, for the cover letter.
(cd "$SRC" && scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback \
	$(ls "$out"/0*.patch | grep -v 0000-cover)
 # The notifier reads timekeeper internals: timekeeping's maintainers review that.
 scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback --no-l \
	-f include/linux/timekeeper_internal.h) | awk '!seen[$0]++' >"$out/maintainers.txt"
python3 - "$cover" "$TOP/patches/cover-letter" "$subject" "$out/maintainers.txt" <<'PY'
import sys
cover, src, subject, mfile = sys.argv[1:5]
text = open(cover).read()
blurb = open(src).read().split("\n\n", 1)[1].rstrip("\n")
people = [l.strip() for l in open(mfile) if l.strip()]
blurb += ("\n\nBase: Linux 7.3.4 as in Debian's linux-source-7.3 7.3.4-1~bpo13+1; the\n"
          "base-commit below is that tree recorded as one commit.")
blurb += "\n\nTo be sent to (scripts/get_maintainer.pl on the series):\n"
blurb += "".join(f"  {p}\n" for p in people)
text = text.replace("*** SUBJECT HERE ***", subject).replace("*** BLURB HERE ***", blurb)
open(cover, "w").write(text)
PY
# The guest-side series (bench/tree.sh puts it after series-kvm): for the PTP maintainers.
rm -rf "$out-guest"
if [ -n "$(git -C "$SRC" rev-list series-kvm..series)" ]; then
	git -C "$SRC" format-patch -q --subject-prefix="PATCH" -o "$out-guest" series-kvm..series
fi
ls "$out" "$out-guest" 2>/dev/null
