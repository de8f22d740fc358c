#!/usr/bin/env perl
# ferry's spawner: forks task processes on request, so that starting one costs
# a fork of this small process rather than of ferry's large one, and puts each
# in its own session (setsid) so that it can be killed as a group.
#
# Requests on stdin: a decimal byte count, "\n", then that many bytes of
# NUL-terminated fields: id, cwd, number of directories to make first,
# the directories, number of env entries, KEY=VALUE..., number
# of argv entries, argv... Replies on stdout, NUL-terminated fields:
#   S id pid       started
#   E id status    exited (raw wait status)
#   F id message   could not start
# End of stdin ends the spawner (after it has reaped what it started).
use strict;
use warnings;
use POSIX ();
use File::Path ();

$| = 1;
binmode STDIN;
binmode STDOUT;
my %jobs;
my $buf = '';
my $eof = 0;

sub reply { print join("\0", @_), "\0"; }

sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $id = delete $jobs{$pid};
    reply('E', $id, $?) if defined $id;
  }
}

sub spawn {
  my @f = @_;
  my $id = shift @f;
  my $cwd = shift @f;
  my $ndirs = shift @f;
  my @dirs = splice(@f, 0, $ndirs);
  my $nenv = shift @f;
  my @env = splice(@f, 0, $nenv);
  my $nargs = shift @f;
  my @argv = splice(@f, 0, $nargs);
  my $pid = fork();
  if (!defined $pid) { reply('F', $id, "fork failed: $!"); return; }
  if ($pid == 0) {
    POSIX::setsid();
    $SIG{$_} = 'DEFAULT' for qw(CHLD INT TERM PIPE);
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', '/dev/null');
    open(STDERR, '>', '/dev/null');
    File::Path::make_path(@dirs) if @dirs;    # in the child: off ferry's path
    chdir($cwd) or POSIX::_exit(126);
    for my $kv (@env) { my ($k, $v) = split(/=/, $kv, 2); $ENV{$k} = $v; }
    { no warnings 'exec'; exec { $argv[0] } @argv; }
    POSIX::_exit(127);
  }
  $jobs{$pid} = $id;
  reply('S', $id, $pid);
}

$SIG{CHLD} = sub { };    # wakes select() when a task ends
my $rin = '';
vec($rin, fileno(STDIN), 1) = 1;
while (!$eof || %jobs) {
  reap();
  last if $eof && !%jobs;
  my $n = select(my $rout = $eof ? undef : $rin, undef, undef, 0.005);
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
reap();
