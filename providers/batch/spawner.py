#!/usr/bin/env python3
# ferry's spawner (Python version, preferred when python3 is there): starts
# task processes with posix_spawn (no copy of any process's memory) in a new
# session, so that starting one is cheap and a whole task can be killed as a
# group. Same protocol as spawner.pl.
#
# Requests on stdin: a decimal byte count, "\n", then that many bytes of
# NUL-terminated fields: id, cwd, number of directories to make first, the
# directories, number of env entries, KEY=VALUE..., number of argv entries,
# argv... Replies on stdout, NUL-terminated fields:
#   S id pid       started
#   E id status    exited (raw wait status)
#   F id message   could not start
# End of stdin ends the spawner (after it has reaped what it started).
import os
import select
import signal
import sys

out = sys.stdout.buffer
jobs = {}
RESET = (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD, signal.SIGQUIT, signal.SIGHUP)


def reply(kind, ident, value):
    out.write(kind + b"\0" + ident + b"\0" + (value if isinstance(value, bytes) else str(value).encode()) + b"\0")
    out.flush()


def reap():
    while jobs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ident = jobs.pop(pid, None)
        if ident is not None:
            reply(b"E", ident, status)


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
    env = dict(os.environb)
    for kv in fields[i + 1:i + 1 + n]:
        k, _, v = kv.partition(b"=")
        env[k] = v
    i += 1 + n
    n = int(fields[i])
    argv = fields[i + 1:i + 1 + n]
    try:
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        os.chdir(cwd)  # posix_spawn has no working directory of its own: the child inherits ours
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=quiet, setsid=True, setsigdef=RESET, setsigmask=())
    except OSError as e:
        reply(b"F", ident, str(e).encode())
        return
    finally:
        os.chdir(home)
    jobs[pid] = ident
    reply(b"S", ident, pid)


def main():
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a task ended: select() wakes through the pipe
    stdin = sys.stdin.fileno()
    buf = b""
    eof = False
    while not eof or jobs:
        reap()
        if eof and not jobs:
            break
        ready, _, _ = select.select([wake_r] + ([] if eof else [stdin]), [], [], 1.0)
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
    reap()


main()
