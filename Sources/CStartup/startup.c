// Runs before the Swift runtime starts: captures argc/argv (glibc passes them
// to constructors), and where there is no /proc turns the Swift backtracer
// off, since it needs /proc to start and aborts the process without it.
#define _GNU_SOURCE
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

#ifdef RUNTIME_PROXY_STATIC
// Only in the fully static build (scripts/build-static passes the define).
// glibc's dladdr() finds nothing in a static executable, so the Swift runtime
// falls back to readlink("/proc/self/exe") to learn its own path, which it
// needs only to look for helper programs next to it, and aborts when there is
// no /proc (an empty chroot, a scratch image without /proc mounted). This
// dladdr names the executable itself; nothing else in the binary uses it.
#include <dlfcn.h>
#include <string.h>

int dladdr(const void *address, Dl_info *info) {
    (void)address;
    memset(info, 0, sizeof(*info));
    info->dli_fname = captured_argv && captured_argv[0] ? captured_argv[0] : "runtime-proxy";
    return 1;
}
#endif
