//go:build unix && cgo

package hoststate

/*
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

static struct sigaction skyrs_saved_action[NSIG];
static int skyrs_saved_action_ok[NSIG];
static struct rlimit skyrs_saved_nofile;
static int skyrs_saved_nofile_ok;

// Runs before the Go runtime's own constructor: .init_array entries with a
// priority run before those without, and the runtime's has none.
#ifdef __linux__
__attribute__((constructor(101)))
#else
__attribute__((constructor))
#endif
static void skyrs_save_host_state(void) {
	for (int sig = 1; sig < NSIG; sig++) {
		skyrs_saved_action_ok[sig] = sigaction(sig, NULL, &skyrs_saved_action[sig]) == 0;
	}
	skyrs_saved_nofile_ok = getrlimit(RLIMIT_NOFILE, &skyrs_saved_nofile) == 0;
}

static void *skyrs_handler(const struct sigaction *a) {
	return (a->sa_flags & SA_SIGINFO) ? (void *)a->sa_sigaction : (void *)a->sa_handler;
}

// Puts back the saved signal actions (but SIGBUS, SIGFPE, SIGSEGV) whose
// handler changed; returns them as a bit mask (bit n: signal n).
static uint64_t skyrs_restore_signals(void) {
	uint64_t restored = 0;
	for (int sig = 1; sig < NSIG && sig < 64; sig++) {
		if (!skyrs_saved_action_ok[sig] || sig == SIGBUS || sig == SIGFPE || sig == SIGSEGV) {
			continue;
		}
		struct sigaction now;
		if (sigaction(sig, NULL, &now) != 0) {
			continue;
		}
		if (skyrs_handler(&now) != skyrs_handler(&skyrs_saved_action[sig]) &&
		    sigaction(sig, &skyrs_saved_action[sig], NULL) == 0) {
			restored |= (uint64_t)1 << sig;
		}
	}
	return restored;
}

static uint64_t skyrs_restored_early;

// Without a priority this runs after the runtime's constructor, which
// installs its handlers before it returns (libpreinit); so the handlers are
// put back before dlopen returns. The linker orders entries without a
// priority by input file, so it may run earlier instead, and find nothing
// to restore: init (below) restores again.
__attribute__((constructor))
static void skyrs_restore_signals_early(void) {
	skyrs_restored_early = skyrs_restore_signals();
}

// Puts back the saved RLIMIT_NOFILE, first (others may read it meanwhile),
// and then the signal actions. Sets *nofile to whether the limit was
// restored; returns the signals restored, here or by the early constructor.
static uint64_t skyrs_restore_host_state(int *nofile) {
	*nofile = 0;
	struct rlimit limit;
	if (skyrs_saved_nofile_ok && getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
	    (limit.rlim_cur != skyrs_saved_nofile.rlim_cur || limit.rlim_max != skyrs_saved_nofile.rlim_max) &&
	    setrlimit(RLIMIT_NOFILE, &skyrs_saved_nofile) == 0) {
		*nofile = 1;
	}
	return skyrs_restored_early | skyrs_restore_signals();
}
*/
import "C"

// Imported so that this package is initialised after syscall, whose init
// raises RLIMIT_NOFILE, and, needing nothing else, right after it.
import _ "syscall"

func init() {
	var nofile C.int
	Restored.Signals = uint64(C.skyrs_restore_host_state(&nofile))
	Restored.Nofile = nofile != 0
}
