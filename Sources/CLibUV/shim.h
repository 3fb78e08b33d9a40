#ifndef RUNTIME_PROXY_CLIBUV_SHIM_H
#define RUNTIME_PROXY_CLIBUV_SHIM_H
#include <uv.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <errno.h>

// prctl is variadic, which Swift cannot call.
static inline int rp_become_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

// accept4 is declared only under _GNU_SOURCE, which the module does not set.
int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
static inline int rp_accept_nonblocking(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

// Casts Swift cannot spell: every libuv handle starts with uv_handle_t / uv_stream_t.
static inline uv_handle_t *rp_handle(void *h) { return (uv_handle_t *)h; }
static inline uv_stream_t *rp_stream(void *h) { return (uv_stream_t *)h; }
#endif
