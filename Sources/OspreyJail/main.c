// osprey-jail: the last step before a sandboxed command runs. It confines itself, then executes the command,
// so the confinement applies to the command and everything it starts, and never to the gateway.
//
//   osprey-jail [--cgroup DIR]... [--list PATH]... [--read PATH]... [--write PATH]... [--no-network] [--seccomp]
//               [--pid-namespace] [--drop-capabilities] [--egress SOCKET] -- PROGRAM ARG...
//
//   --cgroup DIR   join the cgroup v1 directory DIR (write our pid to DIR/cgroup.procs); the gateway created it
//                  with its limits (memory.limit_in_bytes, pids.max)
//   --list PATH    Landlock: directories at PATH (and below) may be listed, their files not read (unless --read)
//   --read PATH    Landlock: PATH (and below) may be read and executed
//   --write PATH   Landlock: PATH (and below) may be read, executed, written, created and removed
//   --no-network   Landlock (ABI 4+): no TCP bind or connect
//   --seccomp      a seccomp filter: kernel-attack and escape system calls fail with EPERM
//   --pid-namespace  run the command as process 1 of a new PID namespace with its own /proc: it sees no process
//                  of the host (the gateway, its environment), and everything it starts, daemons included, dies
//                  with it; the jail waits outside and exits as the command did
//   --drop-capabilities  empty the capability bounding, ambient and process sets (after --pid-namespace, which
//                  needs them): a command started by a root gateway is root without root's powers
//   --egress SOCKET  listen on 127.0.0.1:3128 (in the command's own network namespace, which has nothing but
//                  loopback) and forward each connection to the gateway's egress proxy at the Unix socket SOCKET:
//                  the command's only way out. The forwarder is started confined (after Landlock and seccomp) and
//                  detached, so the command never waits for it; it dies with the namespace.
//
// Landlock is applied when at least one --read or --write is given; everything not listed is then unreadable.
// Any step that fails is fatal (exit 126 with a message on stderr): the command never runs half-confined.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif

static void die(const char *step, const char *detail) {
    fprintf(stderr, "osprey-jail: %s%s%s: %s\n", step, detail ? " " : "", detail ? detail : "", strerror(errno));
    _exit(126);
}

static void join_cgroup(const char *directory) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/cgroup.procs", directory) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        die("cgroup", directory);
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("cgroup", directory);
    char pid[32];
    int length = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (write(fd, pid, (size_t)length) != length) die("cgroup", directory);
    close(fd);
}

// The file-system rights Landlock handles at `abi`: everything it can restrict.
static uint64_t handled_fs(int abi) {
    uint64_t rights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                      LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                      LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                      LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return rights;
}

static void allow_path(int ruleset, const char *path, uint64_t rights) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return;  // a root that does not exist grants nothing
        die("landlock: open", path);
    }
    struct landlock_path_beneath_attr rule = {.allowed_access = rights, .parent_fd = fd};
    // Directory-only rights are refused (EINVAL) on a file: retry with the file ones.
    if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
        if (errno != EINVAL) die("landlock: add rule", path);
        rule.allowed_access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                               LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV;
        if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
            die("landlock: add rule", path);
    }
    close(fd);
}

static void apply_landlock(char **lists, int list_count, char **reads, int read_count, char **writes, int write_count,
                           int no_network) {
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) die("landlock", "is not available in this kernel");
    uint64_t fs = handled_fs((int)abi);
    // The kernel's newer layout; the system headers may predate the network field (ABI 4).
    struct {
        uint64_t handled_access_fs;
        uint64_t handled_access_net;
    } attributes = {.handled_access_fs = fs, .handled_access_net = 0};
    size_t size = sizeof(uint64_t);
    if (no_network) {
        if (abi < 4) {
            errno = EOPNOTSUPP;
            die("landlock", "cannot restrict the network below ABI 4");
        }
        attributes.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size = sizeof(attributes);
    }
    int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attributes, size, 0);
    if (ruleset < 0) die("landlock", "create ruleset");
    uint64_t read = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    for (int i = 0; i < list_count; i++) allow_path(ruleset, lists[i], LANDLOCK_ACCESS_FS_READ_DIR);
    for (int i = 0; i < read_count; i++) allow_path(ruleset, reads[i], read);
    for (int i = 0; i < write_count; i++) allow_path(ruleset, writes[i], fs);
    if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) die("landlock", "restrict self");
    close(ruleset);
}

#if defined(__x86_64__)
#define OSPREY_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define OSPREY_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "osprey-jail knows the seccomp architecture of x86_64 and aarch64 only"
#endif

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

static void apply_seccomp(void) {
    // Namespace flags a clone(2) may not carry: a new user namespace is the usual first step of a kernel exploit.
    const uint32_t namespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC |
                                CLONE_NEWUTS | CLONE_NEWCGROUP;
    struct sock_filter filter[] = {
        // Another architecture's system call numbers mean something else: kill.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OSPREY_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
        // The x32 ABI shares the architecture number: refuse it.
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
        // clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc fall back to clone.
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, namespaces, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        DENY(__NR_ptrace),
        DENY(__NR_process_vm_readv),
        DENY(__NR_process_vm_writev),
        DENY(__NR_mount),
        DENY(__NR_umount2),
        DENY(__NR_pivot_root),
        DENY(__NR_chroot),
        DENY(__NR_unshare),
        DENY(__NR_setns),
        DENY(__NR_swapon),
        DENY(__NR_swapoff),
        DENY(__NR_reboot),
        DENY(__NR_kexec_load),
        DENY(__NR_kexec_file_load),
        DENY(__NR_init_module),
        DENY(__NR_finit_module),
        DENY(__NR_delete_module),
        DENY(__NR_bpf),
        DENY(__NR_perf_event_open),
        DENY(__NR_keyctl),
        DENY(__NR_add_key),
        DENY(__NR_request_key),
        DENY(__NR_userfaultfd),
        DENY(__NR_open_by_handle_at),
        DENY(__NR_name_to_handle_at),
        DENY(__NR_acct),
        DENY(__NR_settimeofday),
        DENY(__NR_clock_settime),
        DENY(__NR_syslog),
        DENY(__NR_quotactl),
        DENY(__NR_fanotify_init),
        DENY(__NR_move_mount),
        DENY(__NR_open_tree),
        DENY(__NR_fsopen),
        DENY(__NR_fsmount),
#ifdef __x86_64__
        DENY(__NR_iopl),
        DENY(__NR_ioperm),
#endif
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])), .filter = filter};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) die("seccomp", "install filter");
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("pid namespace: open", path);
    ssize_t length = (ssize_t)strlen(text);
    if (write(fd, text, (size_t)length) != length) die("pid namespace: write", path);
    close(fd);
}

// Forks the command into a new PID namespace (and a mount namespace for its /proc). The child returns and goes
// on to confine itself; this process waits and exits as the child did. When the child (process 1 of the
// namespace) ends, the kernel kills everything else in the namespace, so no daemon outlives the command.
static void enter_pid_namespace(void) {
    if (geteuid() != 0) {
        // Unprivileged: a user namespace of our own first, mapping us to ourselves, grants the right to the rest.
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER) != 0) die("pid namespace", "user namespace");
        char map[64];
        write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof(map), "%d %d 1\n", (int)uid, (int)uid);
        write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof(map), "%d %d 1\n", (int)gid, (int)gid);
        write_file("/proc/self/gid_map", map);
    }
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) die("pid namespace", "unshare");
    pid_t child = fork();
    if (child < 0) die("pid namespace", "fork");
    if (child == 0) {
        // The jail outside may be killed (a timeout kills the process group): take the namespace down with it.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("pid namespace", "death signal");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("pid namespace", "private mounts");
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die("pid namespace", "/proc");
        return;
    }
    // Signals that would end this process are left at their defaults; the command's own end is mirrored.
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) die("pid namespace", "wait");
    }
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int signal_number = WTERMSIG(status);
    signal(signal_number, SIG_DFL);
    kill(getpid(), signal_number);
    _exit(128 + signal_number);
}

// Empties every capability set, so not even a uid 0 command regains one at exec.
static void drop_capabilities(void) {
    for (int capability = 0; capability <= 63; capability++) {
        if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) {
            if (errno == EINVAL) break;  // past the kernel's last capability
            die("capabilities", "bounding set");
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die("capabilities", "ambient set");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(__NR_capset, &header, data) != 0) die("capabilities", "capset");
}

static int write_all(int fd, const char *bytes, ssize_t count) {
    while (count > 0) {
        ssize_t written = write(fd, bytes, (size_t)count);
        if (written < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        bytes += written;
        count -= written;
    }
    return 0;
}

// Copies bytes both ways between a command's connection and a new connection to the proxy socket, passing each
// side's end of input on as a half-close, until both directions have ended.
static void relay(int client, const char *socket_path) {
    int upstream = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address;
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    strncpy(address.sun_path, socket_path, sizeof(address.sun_path) - 1);
    if (upstream < 0 || connect(upstream, (struct sockaddr *)&address, sizeof(address)) != 0) return;
    int ends[2] = {client, upstream};
    struct pollfd watched[2] = {{.fd = client, .events = POLLIN}, {.fd = upstream, .events = POLLIN}};
    static char buffer[65536];
    while (watched[0].fd >= 0 || watched[1].fd >= 0) {
        if (poll(watched, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (int side = 0; side < 2; side++) {
            if (watched[side].fd < 0 || watched[side].revents == 0) continue;
            ssize_t count = read(ends[side], buffer, sizeof(buffer));
            if (count < 0 && errno == EINTR) continue;
            if (count <= 0) {
                watched[side].fd = -1;  // poll ignores it from now on
                shutdown(ends[1 - side], SHUT_WR);
                continue;
            }
            if (write_all(ends[1 - side], buffer, count) != 0) return;
        }
    }
}

// Binds 127.0.0.1:3128 and leaves a detached forwarder accepting on it; returns once it listens, so the command
// can connect from its first instruction.
static void start_egress_forwarder(const char *socket_path) {
    if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        errno = ENAMETOOLONG;
        die("egress", socket_path);
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("egress", "socket");
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons(3128);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0) die("egress", "bind 127.0.0.1:3128");
    if (listen(listener, 64) != 0) die("egress", "listen");
    pid_t child = fork();
    if (child < 0) die("egress", "fork");
    if (child == 0) {
        // A grandchild, so the command (our parent's successor after exec) has no child it did not start.
        pid_t forwarder = fork();
        if (forwarder != 0) _exit(forwarder < 0 ? 126 : 0);
        signal(SIGCHLD, SIG_IGN);  // relays are reaped by the kernel
        // Nothing of the command's output: its reader sees the end when the command ends.
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        for (;;) {
            int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (client < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                _exit(0);
            }
            pid_t worker = fork();
            if (worker == 0) {
                close(listener);
                relay(client, socket_path);
                _exit(0);
            }
            close(client);
        }
    }
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    close(listener);
}

int main(int argc, char **argv) {
    char **reads = calloc((size_t)argc, sizeof(char *));
    char **writes = calloc((size_t)argc, sizeof(char *));
    char **lists = calloc((size_t)argc, sizeof(char *));
    if (reads == NULL || writes == NULL || lists == NULL) die("memory", NULL);
    int list_count = 0, read_count = 0, write_count = 0, no_network = 0, seccomp = 0, pid_namespace = 0;
    int drop = 0;
    const char *egress = NULL;
    int index = 1;
    for (; index < argc; index++) {
        const char *option = argv[index];
        if (strcmp(option, "--") == 0) {
            index++;
            break;
        }
        int takes_value = strcmp(option, "--cgroup") == 0 || strcmp(option, "--read") == 0 ||
                          strcmp(option, "--write") == 0 || strcmp(option, "--list") == 0 ||
                          strcmp(option, "--egress") == 0;
        if (takes_value && index + 1 >= argc) {
            errno = EINVAL;
            die("usage: missing value after", option);
        }
        if (strcmp(option, "--cgroup") == 0) {
            join_cgroup(argv[++index]);
        } else if (strcmp(option, "--list") == 0) {
            lists[list_count++] = argv[++index];
        } else if (strcmp(option, "--pid-namespace") == 0) {
            pid_namespace = 1;
        } else if (strcmp(option, "--drop-capabilities") == 0) {
            drop = 1;
        } else if (strcmp(option, "--read") == 0) {
            reads[read_count++] = argv[++index];
        } else if (strcmp(option, "--write") == 0) {
            writes[write_count++] = argv[++index];
        } else if (strcmp(option, "--no-network") == 0) {
            no_network = 1;
        } else if (strcmp(option, "--egress") == 0) {
            egress = argv[++index];
        } else if (strcmp(option, "--seccomp") == 0) {
            seccomp = 1;
        } else {
            errno = EINVAL;
            die("usage: unknown option", option);
        }
    }
    if (index >= argc) {
        errno = EINVAL;
        die("usage: no program after --", NULL);
    }
    if (pid_namespace) enter_pid_namespace();
    if (drop) drop_capabilities();
    // No setuid binary may regain what the sandbox takes away; also required for an unprivileged filter.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs", NULL);
    if (list_count + read_count + write_count > 0 || no_network)
        apply_landlock(lists, list_count, reads, read_count, writes, write_count, no_network);
    if (seccomp) apply_seccomp();
    if (egress != NULL) start_egress_forwarder(egress);
    execvp(argv[index], &argv[index]);
    die("exec", argv[index]);
    return 126;
}
