// SPDX-License-Identifier: GPL-2.0-only
/*
 * The bench VM's stand-in for an NTP daemon's kernel interface (bench tooling,
 * not part of the series): bench/init runs it before the tests.
 *   ntp-sync sync      the host clock is synchronized: STA_UNSYNC cleared,
 *                      esterror 100 us, maxerror 1000 us (as chronyd or ntpd
 *                      would set them); KVM's AUTO pages say SYNCHRONIZED
 *                      and carry error bounds
 *   ntp-sync unsync    STA_UNSYNC set, as when the daemon lost its sources:
 *                      after a sync, AUTO pages say FREERUNNING
 * Prints the state adjtimex() returns.
 */
#include <stdio.h>
#include <string.h>
#include <sys/timex.h>

int main(int argc, char **argv)
{
	struct timex tx = { .modes = ADJ_STATUS };
	int r;

	if (argc == 2 && !strcmp(argv[1], "sync")) {
		tx.modes |= ADJ_ESTERROR | ADJ_MAXERROR;
		tx.status = 0;
		tx.esterror = 100;
		tx.maxerror = 1000;
	} else if (argc == 2 && !strcmp(argv[1], "unsync")) {
		tx.status = STA_UNSYNC;
	} else {
		fprintf(stderr, "usage: ntp-sync sync|unsync\n");
		return 2;
	}
	r = adjtimex(&tx);
	if (r < 0) {
		perror("adjtimex");
		return 1;
	}
	printf("ntp-sync %s: state %d status 0x%x esterror %ld us maxerror %ld us tai %d\n",
	       argv[1], r, tx.status, tx.esterror, tx.maxerror, tx.tai);
	return 0;
}
