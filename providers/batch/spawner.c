/*
 * ferry's spawner (C version, used when `deno task build` could compile it):
 * starts task processes with posix_spawn in a new session, so that starting
 * one is cheap and a whole task can be killed as a group. Same protocol as
 * spawner.py and spawner.pl, which stay the fallbacks.
 *
 * Requests on stdin: a decimal byte count, "\n", then that many bytes of
 * NUL-terminated fields: id, cwd, number of directories to make first, the
 * directories, number of symbolic links to make then, their target and path
 * each, number of env entries, KEY=VALUE..., number of argv entries, argv...,
 * then the run's record of process groups (a path, or empty): the spawner
 * appends "+ PID START" to it when it starts a task and "- PID" once the task
 * and its group are gone (see process_groups.ts); then, optionally (this C
 * spawner only: a pilot worker's, pilot.sh), the task's standard output and
 * standard error files, opened (created, truncated) after the change to cwd
 * (empty, or absent: /dev/null; the same path twice: one file for both, as
 * `>FILE 2>&1`). Replies on stdout,
 * NUL-terminated fields:
 *   S id pid            started
 *   E id status usage   exited (raw wait status), and what it used:
 *                       "WALL USER SYS MAXRSS" (seconds, seconds, seconds, KiB)
 *   F id message        could not start
 * End of stdin ends the spawner. It is also the tasks' watchdog: when stdin
 * ends (ferry closed it, or ferry died, even by SIGKILL), its parent changes,
 * its replies cannot be written, or it gets SIGTERM or SIGHUP, it sends
 * SIGTERM to the process group of every task still running, SIGKILL after
 * GRACE seconds (its argument, default 2), reaps them and exits. When a task
 * ends, whatever it left running in its group is killed at once.
 *
 * Why C: the Python spawner costs about 0.4 ms of CPU per task in the
 * interpreter itself; this one costs the system calls only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A running task. */
struct job {
  pid_t pid;
  char *id;
  int record; /* file descriptor of its group record, or -1 */
  double started;
  struct job *next;
};

static struct job *jobs;
static int ferry_gone;        /* a reply could not be written */
static volatile sig_atomic_t stopping; /* SIGTERM or SIGHUP */
static int wake[2];           /* the self-pipe SIGCHLD, SIGTERM and SIGHUP write to */

/* Open record files by path (a run has one; a long-lived library process may have several). */
struct record {
  char *path;
  int fd;
  struct record *next;
};
static struct record *records;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Write all of buf to stdout; on failure ferry is gone and no reply is written again. */
static void emit(const char *buf, size_t n) {
  while (n > 0 && !ferry_gone) {
    ssize_t w = write(1, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      ferry_gone = 1;
      return;
    }
    buf += w;
    n -= (size_t)w;
  }
}

/* One reply: its fields, each NUL-terminated, in one write. */
static void reply(const char *kind, const char *id, const char *value, const char *extra) {
  size_t k = strlen(kind), i = strlen(id), v = strlen(value), e = extra ? strlen(extra) : 0;
  char *buf = malloc(k + i + v + e + 4);
  if (!buf) return;
  char *p = buf;
  memcpy(p, kind, k + 1);
  p += k + 1;
  memcpy(p, id, i + 1);
  p += i + 1;
  memcpy(p, value, v + 1);
  p += v + 1;
  if (extra) {
    memcpy(p, extra, e + 1);
    p += e + 1;
  }
  emit(buf, (size_t)(p - buf));
  free(buf);
}

static int record_fd(const char *path) {
  if (!*path) return -1;
  for (struct record *r = records; r; r = r->next)
    if (strcmp(r->path, path) == 0) return r->fd;
  struct record *r = malloc(sizeof *r);
  if (!r) return -1;
  r->path = strdup(path);
  r->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  r->next = records;
  records = r;
  return r->fd;
}

/* One write: an appended short line is never torn. */
static void record_line(int fd, const char *line) {
  if (fd >= 0) {
    ssize_t ignored = write(fd, line, strlen(line));
    (void)ignored;
  }
}

/* When pid started (clock ticks since boot, field 22 of /proc/PID/stat), or 0. */
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p += 2; /* field 3 */
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

static void signal_group(pid_t pid, int sig) {
  if (killpg(pid, sig) != 0) kill(pid, sig); /* no group (yet): the task itself */
}

/* Reap every task that ended: kill what it left in its group, record it, reply. */
static void reap(void) {
  for (;;) {
    int status;
    struct rusage use;
    pid_t pid = wait4(-1, &status, WNOHANG, &use);
    if (pid <= 0) return;
    killpg(pid, SIGKILL); /* what the task left running in its group goes with it */
    struct job **at = &jobs;
    while (*at && (*at)->pid != pid) at = &(*at)->next;
    struct job *job = *at;
    if (!job) continue;
    *at = job->next;
    char line[64], value[32], usage[128];
    snprintf(line, sizeof line, "- %d\n", (int)pid);
    record_line(job->record, line);
    snprintf(value, sizeof value, "%d", status);
    snprintf(usage, sizeof usage, "%.3f %.3f %.3f %ld", now() - job->started,
             (double)use.ru_utime.tv_sec + (double)use.ru_utime.tv_usec / 1e6,
             (double)use.ru_stime.tv_sec + (double)use.ru_stime.tv_usec / 1e6, use.ru_maxrss);
    reply("E", job->id, value, usage);
    free(job->id);
    free(job);
  }
}

/* mkdir -p */
static int make_dirs(char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return -1;
  char *slash = strrchr(path, '/');
  if (!slash || slash == path) return -1;
  *slash = 0;
  int r = make_dirs(path);
  *slash = '/';
  if (r != 0) return r;
  return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

/* The environment of a task: ours, with the request's entries replacing or adding. */
static char **task_env(char **extra, long n) {
  long base = 0;
  while (environ[base]) base++;
  char **env = malloc(sizeof(char *) * (size_t)(base + n + 1));
  if (!env) return NULL;
  long k = 0;
  for (long i = 0; i < base; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int replaced = 0;
    for (long j = 0; j < n && !replaced; j++)
      replaced = strncmp(extra[j], environ[i], len) == 0 && extra[j][len] == '=';
    if (!replaced) env[k++] = environ[i];
  }
  for (long j = 0; j < n; j++) env[k++] = extra[j];
  env[k] = NULL;
  return env;
}

static const int RESET[] = {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGQUIT, SIGHUP};

/* Start one request's task (fields: its NUL-terminated fields, count of them). */
static void spawn_task(char **f, long count) {
  if (count < 2) return;
  const char *id = f[0], *cwd = f[1];
  long i = 2;
  /* Each list: its count, then (count × width) fields, all within the request. */
  char **lists[4];
  long counts[4];
  const long widths[4] = {1, 2, 1, 1}; /* directories, links (target, path), env, argv */
  for (int l = 0; l < 4; l++) {
    long n = i < count ? strtol(f[i++], NULL, 10) : -1;
    if (n < 0 || n > (count - i) / widths[l]) {
      reply("F", id, "malformed request", NULL);
      return;
    }
    lists[l] = f + i;
    counts[l] = n;
    i += n * widths[l];
  }
  char **dirs = lists[0], **links = lists[1], **vars = lists[2], **argv = lists[3];
  long ndirs = counts[0], nlinks = counts[1], nvars = counts[2], nargv = counts[3];
  const char *rec = i < count ? f[i] : "";
  const char *out = i + 1 < count ? f[i + 1] : "", *errlog = i + 2 < count ? f[i + 2] : "";
  if (nargv < 1) {
    reply("F", id, "malformed request", NULL);
    return;
  }
  char message[8192];
  for (long d = 0; d < ndirs; d++) {
    if (make_dirs(dirs[d]) != 0) {
      snprintf(message, sizeof message, "%s: '%s'", strerror(errno), dirs[d]);
      reply("F", id, message, NULL);
      return;
    }
  }
  for (long l = 0; l < nlinks; l++) {
    if (symlink(links[2 * l], links[2 * l + 1]) != 0) {
      snprintf(message, sizeof message, "Cannot place input \"%s\" in the task directory: %s",
               links[2 * l + 1], strerror(errno));
      reply("F", id, message, NULL);
      return;
    }
  }
  char *args[nargv + 1];
  for (long a = 0; a < nargv; a++) args[a] = argv[a];
  args[nargv] = NULL;
  char **env = task_env(vars, nvars);
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&fa);
  sigset_t def, none;
  sigemptyset(&def);
  sigemptyset(&none);
  for (size_t s = 0; s < sizeof RESET / sizeof RESET[0]; s++) sigaddset(&def, RESET[s]);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_addchdir_np(&fa, cwd);
  const int LOG = O_WRONLY | O_CREAT | O_TRUNC;
  if (*out) posix_spawn_file_actions_addopen(&fa, 1, out, LOG, 0666);
  else posix_spawn_file_actions_adddup2(&fa, 0, 1);
  if (*errlog && *out && strcmp(errlog, out) == 0) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else if (*errlog) posix_spawn_file_actions_addopen(&fa, 2, errlog, LOG, 0666);
  else posix_spawn_file_actions_adddup2(&fa, 0, 2);
  double t0 = now(); /* before: on another core the task runs while this one records it */
  pid_t pid;
  int err = env ? posix_spawnp(&pid, args[0], &fa, &attr, args, env) : ENOMEM;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  free(env);
  if (err != 0) {
    /* The child changes to cwd and opens the logs before it execs: say which step failed. */
    struct stat st;
    int bad = stat(cwd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    const char *log = NULL;
    int log_errno = 0;
    for (int k = 0; k < 2 && bad == 0 && !log; k++) {
      const char *path = k == 0 ? out : errlog;
      if (!*path) continue;
      char full[8192];
      snprintf(full, sizeof full, "%s%s%s", path[0] == '/' ? "" : cwd, path[0] == '/' ? "" : "/",
               path);
      int fd = open(full, LOG | O_CLOEXEC, 0666);
      if (fd < 0) {
        log = path;
        log_errno = errno;
      } else {
        close(fd);
      }
    }
    if (bad != 0) {
      snprintf(message, sizeof message, "Cannot change to the working directory '%s': %s", cwd,
               strerror(bad));
    } else if (log) {
      snprintf(message, sizeof message, "Cannot open the log '%s': %s", log, strerror(log_errno));
    } else {
      snprintf(message, sizeof message, "%s: '%s'", strerror(err), args[0]);
    }
    reply("F", id, message, NULL);
    return;
  }
  int fd = record_fd(rec);
  char line[96], value[32];
  snprintf(line, sizeof line, "+ %d %llu\n", (int)pid, start_time(pid));
  record_line(fd, line);
  struct job *job = malloc(sizeof *job);
  char *copy = strdup(id);
  if (!job || !copy) { /* cannot follow it: it must not run unwatched */
    free(job);
    free(copy);
    signal_group(pid, SIGKILL);
    reply("F", id, "out of memory", NULL);
    return;
  }
  job->pid = pid;
  job->id = copy;
  job->record = fd;
  job->started = t0;
  job->next = jobs;
  jobs = job;
  snprintf(value, sizeof value, "%d", (int)pid);
  reply("S", id, value, NULL);
}

/* Split one request into its fields and start it. */
static void handle(char *req, size_t size) {
  long count = 0;
  for (size_t k = 0; k < size; k++)
    if (req[k] == 0) count++;
  char **fields = malloc(sizeof(char *) * (size_t)(count + 1));
  if (!fields) return;
  long n = 0;
  for (size_t k = 0; k < size && n < count; n++) {
    fields[n] = req + k;
    k += strlen(req + k) + 1;
  }
  spawn_task(fields, count);
  free(fields);
}

static void on_signal(int sig) {
  int saved = errno;
  if (sig == SIGTERM || sig == SIGHUP) stopping = 1;
  char c = (char)sig;
  ssize_t ignored = write(wake[1], &c, 1);
  (void)ignored;
  errno = saved;
}

static void drain_wake(void) {
  char buf[256];
  while (read(wake[0], buf, sizeof buf) > 0) {
  }
}

/* The requests read so far: complete ones are handled, the rest kept. */
static char *buf;
static size_t used, cap;

static void take_requests(void) {
  size_t at = 0;
  for (;;) {
    char *nl = memchr(buf + at, '\n', used - at);
    if (!nl) break;
    size_t size = strtoul(buf + at, NULL, 10);
    size_t start = (size_t)(nl - buf) + 1;
    if (used - start < size) break;
    handle(buf + start, size);
    at = start + size;
  }
  memmove(buf, buf + at, used - at);
  used -= at;
}

int main(int argc, char **argv) {
  double grace = argc > 1 ? strtod(argv[1], NULL) : 2.0;
  pid_t parent = getppid();
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  /* Ctrl-C reaches this process too: ferry cancels the tasks itself and must hear how they end. */
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN); /* a reply to a gone ferry fails with EPIPE instead */
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  cap = 1 << 16;
  buf = malloc(cap);
  if (!buf) return 1;
  int eof = 0;
  double deadline = -1; /* once ending: when SIGKILL follows SIGTERM */
  for (;;) {
    reap();
    if (deadline < 0 && (eof || stopping || ferry_gone || getppid() != parent)) {
      if (!jobs) break;
      for (struct job *j = jobs; j; j = j->next) signal_group(j->pid, SIGTERM);
      deadline = now() + grace;
    }
    if (deadline >= 0) {
      if (!jobs) break;
      if (now() >= deadline) {
        for (struct job *j = jobs; j; j = j->next) signal_group(j->pid, SIGKILL);
        deadline = 1e300;
      }
      struct pollfd w = {wake[0], POLLIN, 0};
      if (poll(&w, 1, 50) > 0) drain_wake();
      continue;
    }
    struct pollfd p[2] = {{wake[0], POLLIN, 0}, {0, POLLIN, 0}};
    int ready = poll(p, 2, 1000);
    if (ready < 0) continue;
    if (p[0].revents) drain_wake();
    if (p[1].revents) {
      if (used == cap) {
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) return 1;
        buf = bigger;
        cap *= 2;
      }
      ssize_t n = read(0, buf + used, cap - used);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof = 1;
        continue;
      }
      used += (size_t)n;
      take_requests();
    }
  }
  return 0;
}
