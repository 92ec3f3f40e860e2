// Socket and eventfd calls whose C macros (CMSG_*) Swift cannot use directly.
#ifndef VU_SUPPORT_H
#define VU_SUPPORT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Receives up to `length` bytes and up to `max_fds` descriptors (SCM_RIGHTS).
/// Returns the bytes read (0 at end of stream, -1 with errno on error); `*fd_count` gets the
/// number of descriptors; descriptors beyond `max_fds` are closed, never leaked.
ssize_t vu_recv_with_fds(int socket, void *buffer, size_t length, int *fds, int max_fds, int *fd_count);

/// Sends `length` bytes, all or nothing (loops on partial writes); -1 with errno on error.
ssize_t vu_send_all(int socket, const void *buffer, size_t length);

/// Receives exactly `length` bytes (no descriptors); 0 at end of stream, -1 on error.
ssize_t vu_recv_all(int socket, void *buffer, size_t length);

/// Sends bytes with descriptors attached (SCM_RIGHTS), for the driver side.
ssize_t vu_send_with_fds(int socket, const void *buffer, size_t length, const int *fds, int fd_count);

int vu_eventfd(void);
/// Blocks until the eventfd is signalled (or `timeout_ms` passes, -1 = forever); 1 if signalled.
int vu_eventfd_wait(int fd, int timeout_ms);
int vu_eventfd_signal(int fd);
/// Readies a kick or call descriptor from a frontend: 0 when it is an anonymous-inode file
/// (an eventfd: no pipe to raise SIGPIPE or block a worker, no regular file to spin on),
/// now non-blocking; -1 otherwise.
int vu_adopt_notifier(int fd);
int vu_memfd(const char *name, size_t size);
/// A listening UNIX stream socket at `path` (an existing socket file is replaced); -1 on error.
int vu_listen(const char *path, int backlog);
/// Accepts one connection (close-on-exec); -1 on error (errno set, EINTR included).
int vu_accept(int listener);
/// Connects to the UNIX socket at `path`; -1 on error.
int vu_connect(const char *path);
/// A connected pair of UNIX stream sockets (tests).
int vu_socketpair(int fds[2]);
#endif
