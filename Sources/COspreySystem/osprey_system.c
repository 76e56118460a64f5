#define _GNU_SOURCE
#include "osprey_system.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#define OSPREY_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)

int osprey_landlock_abi_version(void) {
    long result = syscall(__NR_landlock_create_ruleset, (void *)0, (unsigned long)0, OSPREY_LANDLOCK_CREATE_RULESET_VERSION);
    if (result < 0) {
        return -errno;
    }
    return (int)result;
}

int osprey_open_beneath(int dirfd, const char *path, int flags, mode_t mode) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(__NR_openat2, dirfd, path, &how, sizeof(how));
    if (fd < 0) {
        return -errno;
    }
    return (int)fd;
}

int osprey_spawn(const char *const argv[], const char *const envp[], const char *cwd, int output_fd, pid_t *pid) {
    return osprey_spawn_stdio(argv, envp, cwd, -1, output_fd, output_fd, pid);
}

int osprey_spawn_stdio(
    const char *const argv[], const char *const envp[], const char *cwd, int input_fd, int output_fd, int error_fd,
    pid_t *pid
) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigset_t none;
    sigemptyset(&none);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (result == 0) result = posix_spawnattr_setpgroup(&attributes, 0);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (result == 0) {
        result = input_fd < 0 ? posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                              : posix_spawn_file_actions_adddup2(&actions, input_fd, 0);
    }
    if (result == 0) result = posix_spawn_file_actions_adddup2(&actions, output_fd, 1);
    if (result == 0) result = posix_spawn_file_actions_adddup2(&actions, error_fd, 2);
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (result == 0 && cwd != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    if (result == 0) result = posix_spawn(pid, argv[0], &actions, &attributes, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return result;
}

int osprey_o_path(void) { return O_PATH; }

int osprey_pipe_cloexec(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -errno;
    }
    return 0;
}

int osprey_memfd(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int osprey_loopback_bind(int port, int *bound_port) {
    int descriptor = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (descriptor < 0) return -1;
    int reuse = 1;
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(descriptor, (struct sockaddr *)&address, sizeof address) != 0) {
        int saved = errno;
        close(descriptor);
        errno = saved;
        return -1;
    }
    if (bound_port != NULL) {
        socklen_t length = sizeof address;
        if (getsockname(descriptor, (struct sockaddr *)&address, &length) != 0) {
            int saved = errno;
            close(descriptor);
            errno = saved;
            return -1;
        }
        *bound_port = ntohs(address.sin_port);
    }
    return descriptor;
}

int osprey_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int osprey_exchange_paths(const char *first, const char *second) {
#ifdef RENAME_EXCHANGE
    return renameat2(AT_FDCWD, first, AT_FDCWD, second, RENAME_EXCHANGE);
#else
    return (int)syscall(SYS_renameat2, AT_FDCWD, first, AT_FDCWD, second, 1U << 1);
#endif
}
