#!/usr/bin/env perl
# ferry's spawner: forks task processes on request, so that starting one costs
# a fork of this small process rather than of ferry's large one, and puts each
# in its own session (setsid) so that it can be killed as a group.
#
# Requests on stdin: a decimal byte count, "\n", then that many bytes of
# NUL-terminated fields: id, cwd, number of directories to make first,
# the directories, number of symbolic links to make then, their target and
# path each, number of env entries, KEY=VALUE..., number
# of argv entries, argv..., then the run's record of process groups (a path,
# or empty): the spawner appends "+ PID START" to it when it starts a task and
# "- PID" once the task and its group are gone (see process_groups.ts).
# Replies on stdout, NUL-terminated fields:
#   S id pid       started
#   E id status usage   exited (raw wait status), and what it used: "WALL USER SYS MAXRSS"
#                       (seconds, seconds, seconds, KiB; "-" for a figure not measured: this
#                       spawner measures CPU time only, as the growth of its children's times)
#   F id message   could not start
# End of stdin ends the spawner. It is also the tasks' watchdog: when stdin
# ends (ferry closed it, or ferry died, even by SIGKILL), its parent changes,
# its replies cannot be written, or it gets SIGTERM or SIGHUP, it sends
# SIGTERM to the process group of every task still running, SIGKILL after
# GRACE seconds (its argument, default 2), reaps them and exits. When a task
# ends, whatever it left running in its group is killed at once.
use strict;
use warnings;
use POSIX ();
use File::Path ();

my $grace = @ARGV ? $ARGV[0] : 2;
$| = 1;
binmode STDIN;
binmode STDOUT;
my %jobs;
my $buf = '';
my $eof = 0;
my $ferry_gone = 0;    # a reply could not be written
my $stopping = 0;      # SIGTERM or SIGHUP
my $blocked = POSIX::SigSet->new(POSIX::SIGTERM(), POSIX::SIGHUP(), POSIX::SIGCHLD());

sub reply {
  return if $ferry_gone;
  print(join("\0", @_), "\0") or $ferry_gone = 1;
}

my %records;    # record path -> handle (undef: cannot be written)

sub record {
  my ($path, $line) = @_;
  return unless defined $path && length $path;
  if (!exists $records{$path}) {
    my $fh;
    $fh = undef unless sysopen($fh, $path, POSIX::O_WRONLY() | POSIX::O_APPEND());
    $records{$path} = $fh;
  }
  my $fh = $records{$path};
  syswrite($fh, $line) if $fh;    # one write: an appended short line is never torn
}

# When $pid started (clock ticks since boot, field 22 of /proc/PID/stat), or 0.
sub start_time {
  my ($pid) = @_;
  open(my $f, '<', "/proc/$pid/stat") or return 0;
  my $stat = <$f>;
  close($f);
  return 0 unless defined $stat && $stat =~ /\) (.*)$/s;
  my @fields = split(/ /, $1);
  return $fields[19] // 0;
}

sub signal_group {
  my ($sig, $pid) = @_;
  kill($sig, -$pid) or kill($sig, $pid);    # no group (yet): the task itself
}

sub reap {
  # Core Perl has no wait4: a task's CPU time is what reaping it adds to this process's children's
  # times (which cover every descendant the task waited for), in clock ticks.
  my (undef, undef, $cu, $cs) = times;
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $status = $?;
    my (undef, undef, $u, $s) = times;
    my $usage = sprintf('- %.3f %.3f -', $u - $cu, $s - $cs);
    ($cu, $cs) = ($u, $s);
    my $job = delete $jobs{$pid};
    kill('KILL', -$pid);    # what the task left running in its group goes with it
    next unless $job;
    record($job->[1], "- $pid\n");
    reply('E', $job->[0], $status, $usage);
  }
}

sub spawn {
  my @f = @_;
  my $id = shift @f;
  my $cwd = shift @f;
  my $ndirs = shift @f;
  my @dirs = splice(@f, 0, $ndirs);
  my $nlinks = shift @f;
  my @links = splice(@f, 0, 2 * $nlinks);
  my $nenv = shift @f;
  my @env = splice(@f, 0, $nenv);
  my $nargs = shift @f;
  my @argv = splice(@f, 0, $nargs);
  my $rec = shift @f;
  if (@links) {    # made here, so that a link that cannot be made is a message
    File::Path::make_path(@dirs) if @dirs;
    @dirs = ();
    for (my $k = 0; $k < @links; $k += 2) {
      next if symlink($links[$k], $links[$k + 1]);
      reply('F', $id, "Cannot place input \"$links[$k + 1]\" in the task directory: $!");
      return;
    }
  }
  # Signals wait until the child has its own handlers back: a SIGTERM meant for the task must not
  # run this process's handler in the child.
  my $old = POSIX::SigSet->new;
  POSIX::sigprocmask(POSIX::SIG_BLOCK(), $blocked, $old);
  my $pid = fork();
  if (!defined $pid) {
    POSIX::sigprocmask(POSIX::SIG_SETMASK(), $old);
    reply('F', $id, "fork failed: $!");
    return;
  }
  if ($pid == 0) {
    POSIX::setsid();
    $SIG{$_} = 'DEFAULT' for qw(CHLD INT TERM PIPE QUIT HUP);
    POSIX::sigprocmask(POSIX::SIG_SETMASK(), $old);
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', '/dev/null');
    open(STDERR, '>', '/dev/null');
    File::Path::make_path(@dirs) if @dirs;    # in the child: off ferry's path
    chdir($cwd) or POSIX::_exit(126);
    for my $kv (@env) { my ($k, $v) = split(/=/, $kv, 2); $ENV{$k} = $v; }
    { no warnings 'exec'; exec { $argv[0] } @argv; }
    POSIX::_exit(127);
  }
  POSIX::sigprocmask(POSIX::SIG_SETMASK(), $old);
  record($rec, "+ $pid " . start_time($pid) . "\n");
  $jobs{$pid} = [$id, $rec];
  reply('S', $id, $pid);
}

$SIG{CHLD} = sub { };    # wakes select() when a task ends
# Ctrl-C reaches this process too: ferry cancels the tasks itself and must hear how they end.
$SIG{INT} = $SIG{QUIT} = 'IGNORE';
$SIG{TERM} = $SIG{HUP} = sub { $stopping = 1 };
$SIG{PIPE} = 'IGNORE';    # a reply to a dead ferry fails instead
my $parent = getppid();
my $rin = '';
vec($rin, fileno(STDIN), 1) = 1;
my ($ending_since, $killed);    # once ending: since when (s), and whether SIGKILL went out
while (1) {
  reap();
  if (!defined $ending_since && ($eof || $stopping || $ferry_gone || getppid() != $parent)) {
    last unless %jobs;
    signal_group('TERM', $_) for keys %jobs;
    $ending_since = time;
  }
  if (defined $ending_since) {
    last unless %jobs;
    # Whole seconds (Time::HiRes is not in perl-base): SIGKILL comes GRACE to GRACE + 1 s after SIGTERM.
    if (!$killed && time - $ending_since > $grace) {
      signal_group('KILL', $_) for keys %jobs;
      $killed = 1;
    }
    select(undef, undef, undef, 0.02);
    next;
  }
  my $n = select(my $rout = $rin, undef, undef, 0.005);
  next unless $n && $n > 0;
  my $r = sysread(STDIN, $buf, 1 << 16, length $buf);
  if (!$r) { $eof = 1; next; }
  while ($buf =~ /^(\d+)\n/) {
    my $len = $1;
    my $start = length($1) + 1;
    last if length($buf) < $start + $len;
    my $rec = substr($buf, $start, $len);
    substr($buf, 0, $start + $len) = '';
    my @fields = split(/\0/, $rec, -1);
    pop @fields;    # the record ends with a NUL
    spawn(@fields);
  }
}
