#define _GNU_SOURCE
#include "vu_support.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define VU_MAX_FDS 32

ssize_t vu_recv_with_fds(int socket, void *buffer, size_t length, int *fds, int max_fds, int *fd_count) {
    char control[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
    struct iovec iov = {.iov_base = buffer, .iov_len = length};
    struct msghdr message = {0};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    *fd_count = 0;
    ssize_t received;
    do {
        received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    } while (received < 0 && errno == EINTR);
    if (received < 0) return received;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *incoming = (int *)CMSG_DATA(header);
        for (int i = 0; i < count; i++) {
            if (*fd_count < max_fds) fds[(*fd_count)++] = incoming[i];
            else close(incoming[i]);
        }
    }
    return received;
}

ssize_t vu_send_all(int socket, const void *buffer, size_t length) {
    size_t sent = 0;
    while (sent < length) {
        ssize_t result = send(socket, (const char *)buffer + sent, length - sent, MSG_NOSIGNAL);
        if (result < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        sent += (size_t)result;
    }
    return (ssize_t)sent;
}

ssize_t vu_recv_all(int socket, void *buffer, size_t length) {
    size_t received = 0;
    while (received < length) {
        ssize_t result = recv(socket, (char *)buffer + received, length - received, 0);
        if (result < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (result == 0) return 0;
        received += (size_t)result;
    }
    return (ssize_t)received;
}

ssize_t vu_send_with_fds(int socket, const void *buffer, size_t length, const int *fds, int fd_count) {
    if (fd_count <= 0) return vu_send_all(socket, buffer, length);
    if (fd_count > VU_MAX_FDS) { errno = EINVAL; return -1; }
    char control[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
    memset(control, 0, sizeof(control));
    struct iovec iov = {.iov_base = (void *)buffer, .iov_len = length};
    struct msghdr message = {0};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)fd_count);
    ssize_t result;
    do {
        result = sendmsg(socket, &message, MSG_NOSIGNAL);
    } while (result < 0 && errno == EINTR);
    if (result >= 0 && (size_t)result < length) {
        ssize_t rest = vu_send_all(socket, (const char *)buffer + result, length - (size_t)result);
        if (rest < 0) return -1;
        result += rest;
    }
    return result;
}

int vu_eventfd(void) { return eventfd(0, EFD_CLOEXEC); }

int vu_adopt_notifier(int fd) {
    struct stat status;
    if (fstat(fd, &status) != 0 || (status.st_mode & S_IFMT) != 0) return -1;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -1;
    return 0;
}

int vu_eventfd_wait(int fd, int timeout_ms) {
    struct pollfd entry = {.fd = fd, .events = POLLIN};
    int ready;
    do {
        ready = poll(&entry, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) return 0;
    uint64_t value;
    if (read(fd, &value, sizeof(value)) != sizeof(value)) return 0;
    return 1;
}

int vu_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

int vu_memfd(const char *name, size_t size) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int vu_address(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(address->sun_path)) { errno = ENAMETOOLONG; return -1; }
    strcpy(address->sun_path, path);
    return 0;
}

int vu_listen(const char *path, int backlog) {
    struct sockaddr_un address;
    if (vu_address(path, &address) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int vu_accept(int listener) { return accept4(listener, NULL, NULL, SOCK_CLOEXEC); }

int vu_connect(const char *path) {
    struct sockaddr_un address;
    if (vu_address(path, &address) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int vu_socketpair(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }
