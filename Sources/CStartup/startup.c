// Runs before the Swift runtime starts: captures argc/argv (glibc passes them
// to constructors), and where there is no /proc turns the Swift backtracer
// off, since it needs /proc to start and aborts the process without it.
#include <stdlib.h>
#include <unistd.h>
#include "startup.h"

static int captured_argc;
static char *const *captured_argv;

__attribute__((constructor(101)))
static void rp_startup_capture(int argc, char **argv, char **envp) {
    (void)envp;
    captured_argc = argc;
    captured_argv = argv;
    if (access("/proc/self/exe", F_OK) != 0) {
        setenv("SWIFT_BACKTRACE", "enable=no", 0);
    }
}

int rp_startup_argc(void) { return captured_argc; }
char *const *rp_startup_argv(void) { return captured_argv; }
