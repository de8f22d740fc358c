#!/usr/bin/env python3
# ferry's spawner (Python version, preferred when python3 is there): starts
# task processes with posix_spawn (no copy of any process's memory) in a new
# session, so that starting one is cheap and a whole task can be killed as a
# group. Same protocol as spawner.pl.
#
# Requests on stdin: a decimal byte count, "\n", then that many bytes of
# NUL-terminated fields: id, cwd, number of directories to make first, the
# directories, number of symbolic links to make then, their target and path
# each, number of env entries, KEY=VALUE..., number of argv entries,
# argv..., then the run's record of process groups (a path, or empty): the
# spawner appends "+ PID START" to it when it starts a task and "- PID" once
# the task and its group are gone (see process_groups.ts). Replies on stdout,
# NUL-terminated fields:
#   S id pid       started
#   E id status usage   exited (raw wait status), and what it used: "WALL USER SYS MAXRSS"
#                       (seconds, seconds, seconds, KiB; "-" for a figure not measured)
#   F id message   could not start
# End of stdin ends the spawner. It is also the tasks' watchdog: when stdin
# ends (ferry closed it, or ferry died, even by SIGKILL), its parent changes,
# its replies cannot be written, or it gets SIGTERM or SIGHUP, it sends
# SIGTERM to the process group of every task still running, SIGKILL after
# GRACE seconds (its argument, default 2), reaps them and exits. When a task
# ends, whatever it left running in its group is killed at once.
import os
import sys

# Without posix_spawn (Python before 3.8) the Perl spawner, which speaks the same protocol, takes
# over this process (its path is the second argument; none: exit 3). So ferry starts this script
# at once, with no probe of python3 first.
if sys.version_info < (3, 8) or not hasattr(os, "posix_spawnp"):
    if len(sys.argv) > 2 and sys.argv[2]:
        os.execvp("perl", ["perl", sys.argv[2], sys.argv[1]])
    sys.exit(3)

import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

GRACE = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
out = sys.stdout.buffer
jobs = {}
RESET = (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD, signal.SIGQUIT, signal.SIGHUP)
ferry_gone = False  # a reply could not be written
stopping = False  # SIGTERM or SIGHUP
records = {}  # record path -> file descriptor (-1: cannot be written)


def record(path, line):
    if not path:
        return
    fd = records.get(path)
    if fd is None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError:
            fd = -1
        records[path] = fd
    if fd >= 0:
        try:
            os.write(fd, line)  # one write: an appended short line is never torn
        except OSError:
            pass


def start_time(pid):
    """When `pid` started (clock ticks since boot, field 22 of /proc/PID/stat), or 0."""
    try:
        with open(b"/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split(b" ")[19])
    except (OSError, ValueError, IndexError):
        return 0


def reply(kind, ident, value, extra=b""):
    global ferry_gone
    if ferry_gone:
        return
    try:
        out.write(kind + b"\0" + ident + b"\0" + (value if isinstance(value, bytes) else str(value).encode()) + b"\0"
                  + extra)
        out.flush()
    except OSError:
        ferry_gone = True


def signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)  # no group (yet): the task itself
        except OSError:
            pass


def reap():
    while jobs:
        try:
            # wait3: the task's rusage, which covers every descendant it waited for (ru_maxrss: the
            # largest of them, not their sum).
            pid, status, use = os.wait3(os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = jobs.pop(pid, None)
        try:
            os.killpg(pid, signal.SIGKILL)  # what the task left running in its group goes with it
        except OSError:
            pass
        if job is not None:
            record(job[1], b"- %d\n" % pid)
            usage = b"%.3f %.3f %.3f %d\0" % (time.monotonic() - job[2], use.ru_utime, use.ru_stime, use.ru_maxrss)
            reply(b"E", job[0], status, usage)


devnull = os.open(os.devnull, os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
home = os.getcwd()


def spawn(fields):
    ident, cwd = fields[0], fields[1]
    i = 2
    n = int(fields[i])
    dirs = fields[i + 1:i + 1 + n]
    i += 1 + n
    n = int(fields[i])
    links = fields[i + 1:i + 1 + 2 * n]
    i += 1 + 2 * n
    n = int(fields[i])
    env = dict(os.environb)
    for kv in fields[i + 1:i + 1 + n]:
        k, _, v = kv.partition(b"=")
        env[k] = v
    i += 1 + n
    n = int(fields[i])
    argv = fields[i + 1:i + 1 + n]
    i += 1 + n
    rec = fields[i] if i < len(fields) else b""
    try:
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        for k in range(0, len(links), 2):
            try:
                os.symlink(links[k], links[k + 1])
            except OSError as e:
                reply(b"F", ident, b"Cannot place input \"%s\" in the task directory: %s" % (
                    links[k + 1], (e.strerror or str(e)).encode()))
                return
        os.chdir(cwd)  # posix_spawn has no working directory of its own: the child inherits ours
        t0 = time.monotonic()  # before: on another core the task runs while this one records it
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=quiet, setsid=True, setsigdef=RESET, setsigmask=())
    except OSError as e:
        reply(b"F", ident, str(e).encode())
        return
    finally:
        os.chdir(home)
    record(rec, b"+ %d %d\n" % (pid, start_time(pid)))
    jobs[pid] = (ident, rec, t0)
    reply(b"S", ident, pid)


def stop(*_):
    global stopping
    stopping = True


def main():
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a task ended: select() wakes through the pipe
    # Ctrl-C reaches this process too: ferry cancels the tasks itself and must hear how they end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    parent = os.getppid()
    stdin = sys.stdin.fileno()
    buf = b""
    eof = False
    deadline = None  # once ending: when SIGKILL follows SIGTERM
    while True:
        reap()
        if deadline is None and (eof or stopping or ferry_gone or os.getppid() != parent):
            if not jobs:
                break
            for pid in jobs:
                signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + GRACE
        if deadline is not None:
            if not jobs:
                break
            if time.monotonic() >= deadline:
                for pid in jobs:
                    signal_group(pid, signal.SIGKILL)
                deadline = float("inf")
            ready, _, _ = select.select([wake_r], [], [], 0.05)
            if ready:
                os.read(wake_r, 4096)
            continue
        ready, _, _ = select.select([wake_r, stdin], [], [], 1.0)
        if wake_r in ready:
            os.read(wake_r, 4096)
        if stdin in ready:
            data = os.read(stdin, 1 << 16)
            if not data:
                eof = True
                continue
            buf += data
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                size = int(buf[:nl])
                if len(buf) < nl + 1 + size:
                    break
                record = buf[nl + 1:nl + 1 + size]
                buf = buf[nl + 1 + size:]
                spawn(record.split(b"\0")[:-1])


main()
