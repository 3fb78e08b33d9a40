#ifndef RUNTIME_PROXY_STARTUP_H
#define RUNTIME_PROXY_STARTUP_H

/// The process's arguments as the kernel gave them, captured before main.
/// Swift on Linux reads CommandLine.arguments from /proc/self/cmdline, which
/// an empty chroot or a scratch image without /proc does not have.
int rp_startup_argc(void);
char *const *rp_startup_argv(void);

#endif
