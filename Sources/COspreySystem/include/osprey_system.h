#ifndef OSPREY_SYSTEM_H
#define OSPREY_SYSTEM_H

#include <sys/types.h>

/// The Landlock ABI version the running kernel offers, or a negative errno (-ENOSYS, -EOPNOTSUPP) when it offers none.
int osprey_landlock_abi_version(void);

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: opens `path` relative to `dirfd` only if it stays
/// beneath it (no "..", absolute path or symlink leading out). Returns a descriptor (O_CLOEXEC) or -errno.
int osprey_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/// Spawns argv[0] (a path) with `envp`, in `cwd`, as the leader of a new process group, with stdin from
/// /dev/null, stdout and stderr to `output_fd`, and every other descriptor closed. Returns 0 and the pid,
/// or an errno.
int osprey_spawn(const char *const argv[], const char *const envp[], const char *cwd, int output_fd, pid_t *pid);

/// As osprey_spawn, with the child's stdin from `input_fd` (/dev/null when negative), stdout to `output_fd` and
/// stderr to `error_fd`: for children that speak a protocol over their standard streams.
int osprey_spawn_stdio(
    const char *const argv[], const char *const envp[], const char *cwd, int input_fd, int output_fd, int error_fd,
    pid_t *pid
);

/// O_PATH, which Swift's Glibc module does not export.
int osprey_o_path(void);

/// pipe2(fds, O_CLOEXEC); 0 or -errno.
int osprey_pipe_cloexec(int fds[2]);

/// A TCP socket (SO_REUSEADDR, close-on-exec) bound to 127.0.0.1:`port` (0: a port the kernel picks), not yet
/// listening; -1 with errno set on failure. `bound_port`, when given, receives the port bound.
int osprey_loopback_bind(int port, int *bound_port);

#endif

/// An anonymous in-memory file (memfd_create with MFD_CLOEXEC); -1 with errno set on failure.
int osprey_memfd(const char *name);

/// malloc_trim(0): gives the heap's free pages back to the system; 1 if any were. glibc only (0 elsewhere).
int osprey_malloc_trim(void);

/// Swaps two paths in one step (renameat2 with RENAME_EXCHANGE): each name then points at what the other did.
/// -1 with errno set on failure (EINVAL where the filesystem cannot).
int osprey_exchange_paths(const char *first, const char *second);
