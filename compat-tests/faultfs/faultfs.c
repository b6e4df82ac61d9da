/*
 * faultfs: an LD_PRELOAD library that makes file system calls of a process fail on demand,
 * for Weir's disk-fault tests. It needs no mount and no privileges.
 *
 * The process is started with LD_PRELOAD=libfaultfs.so and WEIR_FAULT_CONTROL=<file>. Before
 * each intercepted call the library reads that file; empty or missing means no fault. A rule
 * is one line:
 *
 *     <call> <path-substring> <errno> [<after>]
 *
 *   call            write  (write, pwrite, pwrite64, writev, pwritev)
 *                   sync   (fsync, fdatasync)
 *                   rename (rename, renameat, renameat2: either path)
 *                   create (open, open64, openat, openat64 with O_CREAT)
 *   path-substring  the call fails only on files whose path contains it
 *                   (for fd calls, the path /proc/self/fd/<fd> points to)
 *   errno           EIO, ENOSPC, EDQUOT or EROFS
 *   after           this many matching calls succeed first (default 0)
 *
 * Rewriting the file starts a new rule (and resets `after`); emptying it clears the fault, so
 * tests can fail a disk and heal it while the process runs. Every failure injected is counted
 * in the file named by WEIR_FAULT_LOG (one line per failure), if set.
 *
 * Power loss: with WEIR_FAULT_SYNCED=<file>, every successful fsync/fdatasync of a file whose
 * path contains WEIR_FAULT_TRACK (default: every file) appends "<size> <inode> <path>" to that
 * file: what the file held when it was last made durable. A test kills the process, truncates
 * each file to its inode's last synced size (a file never synced to nothing) and starts it
 * again: what a power cut after the last fsync would have left of appended data. Keyed by
 * inode, a file written, fsynced and then renamed into place keeps what it synced.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char loaded[1024];
static char rule_call[16];
static char rule_path[512];
static int rule_errno;
static long rule_after;
static long matched;

static int errno_named(const char *name) {
    if (strcmp(name, "EIO") == 0) return EIO;
    if (strcmp(name, "ENOSPC") == 0) return ENOSPC;
    if (strcmp(name, "EDQUOT") == 0) return EDQUOT;
    if (strcmp(name, "EROFS") == 0) return EROFS;
    return 0;
}

/* Reads the control file with raw syscalls (never through the wrappers below). Returns
 * whether a rule is active. Called with `lock` held. */
static int load_rule(void) {
    const char *control = getenv("WEIR_FAULT_CONTROL");
    if (control == NULL) return 0;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, control, O_RDONLY | O_CLOEXEC);
    char buf[sizeof loaded];
    ssize_t n = 0;
    if (fd >= 0) {
        n = syscall(SYS_read, fd, buf, sizeof buf - 1);
        syscall(SYS_close, fd);
    }
    if (n < 0) n = 0;
    buf[n] = '\0';
    if (strcmp(buf, loaded) != 0) {
        memcpy(loaded, buf, (size_t)n + 1);
        matched = 0;
        rule_call[0] = '\0';
        char call[16], path[512], err[16];
        long after = 0;
        int fields = sscanf(buf, "%15s %511s %15s %ld", call, path, err, &after);
        if (fields >= 3 && errno_named(err) != 0) {
            strcpy(rule_call, call);
            strcpy(rule_path, path);
            rule_errno = errno_named(err);
            rule_after = fields == 4 ? after : 0;
        }
    }
    return rule_call[0] != '\0';
}

static void note_failure(const char *call, const char *path) {
    const char *log = getenv("WEIR_FAULT_LOG");
    if (log == NULL) return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char line[1200];
    int n = snprintf(line, sizeof line, "%s %s\n", call, path);
    if (n > 0) syscall(SYS_write, fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    syscall(SYS_close, fd);
}

/* The errno to fail a `call` on `path` with, or 0. */
static int fault_for_path(const char *call, const char *path) {
    int result = 0;
    pthread_mutex_lock(&lock);
    if (path != NULL && load_rule() && strcmp(call, rule_call) == 0 && strstr(path, rule_path)) {
        matched++;
        if (matched > rule_after) {
            result = rule_errno;
            note_failure(call, path);
        }
    }
    pthread_mutex_unlock(&lock);
    return result;
}

/* Records the size `fd` had when a sync of it succeeded (see WEIR_FAULT_SYNCED). */
static void note_synced(int fd) {
    const char *synced = getenv("WEIR_FAULT_SYNCED");
    if (synced == NULL) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return;
    path[n] = '\0';
    const char *track = getenv("WEIR_FAULT_TRACK");
    if (track != NULL && strstr(path, track) == NULL) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    char line[4200];
    int len = snprintf(line, sizeof line, "%lld %llu %s\n", (long long)st.st_size,
                       (unsigned long long)st.st_ino, path);
    if (len <= 0 || len >= (int)sizeof line) return;
    pthread_mutex_lock(&lock);
    int out = (int)syscall(SYS_openat, AT_FDCWD, synced, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out >= 0) {
        syscall(SYS_write, out, line, (size_t)len);
        syscall(SYS_close, out);
    }
    pthread_mutex_unlock(&lock);
}

static int fault_for_fd(const char *call, int fd) {
    char link[64], path[4096];
    pthread_mutex_lock(&lock);
    int active = load_rule() && strcmp(call, rule_call) == 0;
    pthread_mutex_unlock(&lock);
    if (!active) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = '\0';
    return fault_for_path(call, path);
}

#define REAL(name, ret, ...)                                              \
    static ret (*real_##name)(__VA_ARGS__);                               \
    static void resolve_##name(void) {                                    \
        if (real_##name == NULL) real_##name = dlsym(RTLD_NEXT, #name);   \
    }

REAL(write, ssize_t, int, const void *, size_t)
REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
REAL(writev, ssize_t, int, const struct iovec *, int)
REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
REAL(fsync, int, int)
REAL(fdatasync, int, int)
REAL(rename, int, const char *, const char *)
REAL(renameat, int, int, const char *, int, const char *)
REAL(renameat2, int, int, const char *, int, const char *, unsigned int)
REAL(open, int, const char *, int, ...)
REAL(open64, int, const char *, int, ...)
REAL(openat, int, int, const char *, int, ...)
REAL(openat64, int, int, const char *, int, ...)

#define FAIL_FD(call, fd)                        \
    do {                                         \
        int e_ = fault_for_fd(call, fd);         \
        if (e_ != 0) {                           \
            errno = e_;                          \
            return -1;                           \
        }                                        \
    } while (0)

ssize_t write(int fd, const void *buf, size_t count) {
    resolve_write();
    FAIL_FD("write", fd);
    return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    resolve_pwrite();
    FAIL_FD("write", fd);
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    resolve_pwrite64();
    FAIL_FD("write", fd);
    return real_pwrite64(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    resolve_writev();
    FAIL_FD("write", fd);
    return real_writev(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    resolve_pwritev();
    FAIL_FD("write", fd);
    return real_pwritev(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
    resolve_fsync();
    FAIL_FD("sync", fd);
    int r = real_fsync(fd);
    if (r == 0) note_synced(fd);
    return r;
}

int fdatasync(int fd) {
    resolve_fdatasync();
    FAIL_FD("sync", fd);
    int r = real_fdatasync(fd);
    if (r == 0) note_synced(fd);
    return r;
}

static int fail_rename(const char *from, const char *to) {
    int e = fault_for_path("rename", from);
    if (e == 0) e = fault_for_path("rename", to);
    if (e != 0) errno = e;
    return e;
}

int rename(const char *from, const char *to) {
    resolve_rename();
    if (fail_rename(from, to) != 0) return -1;
    return real_rename(from, to);
}

int renameat(int from_dir, const char *from, int to_dir, const char *to) {
    resolve_renameat();
    if (fail_rename(from, to) != 0) return -1;
    return real_renameat(from_dir, from, to_dir, to);
}

int renameat2(int from_dir, const char *from, int to_dir, const char *to, unsigned int flags) {
    resolve_renameat2();
    if (fail_rename(from, to) != 0) return -1;
    return real_renameat2(from_dir, from, to_dir, to, flags);
}

/* Opening with O_CREAT (a new segment, a temp file, an SST) fails on a matching path. The mode
 * is passed on only when the flags say there is one. */
static int fail_create(const char *path, int flags) {
    if ((flags & O_CREAT) == 0) return 0;
    int e = fault_for_path("create", path);
    if (e != 0) errno = e;
    return e;
}

#define MODE_ARG(flags, mode)                                   \
    mode_t mode = 0;                                            \
    if ((flags) & (O_CREAT | O_TMPFILE)) {                      \
        va_list ap_;                                            \
        va_start(ap_, flags);                                   \
        mode = (mode_t)va_arg(ap_, int);                        \
        va_end(ap_);                                            \
    }

int open(const char *path, int flags, ...) {
    resolve_open();
    MODE_ARG(flags, mode);
    if (fail_create(path, flags) != 0) return -1;
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    resolve_open64();
    MODE_ARG(flags, mode);
    if (fail_create(path, flags) != 0) return -1;
    return real_open64(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...) {
    resolve_openat();
    MODE_ARG(flags, mode);
    if (fail_create(path, flags) != 0) return -1;
    return real_openat(dir, path, flags, mode);
}

int openat64(int dir, const char *path, int flags, ...) {
    resolve_openat64();
    MODE_ARG(flags, mode);
    if (fail_create(path, flags) != 0) return -1;
    return real_openat64(dir, path, flags, mode);
}
