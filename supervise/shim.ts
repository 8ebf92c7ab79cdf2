// The job's small process, in perl (docs/design.md, "How a job runs"): a
// string so that it ships however the module is loaded (a clone, https,
// JSR); shim_file.ts writes it where perl runs it. Its protocol's other
// side is in store/journal.ts and spawn/launch.ts.

/** The shim's perl text. */
export const SHIM_SOURCE: string = String
  .raw`# perl shim.pl <id>.live: an @epack/detach job's supervisor. Core perl, no
# module while the job runs, and what a job may not need is compiled only
# when it does (after __END__): each line costs memory in every job.
my ($GOT, $NEW, $CHLD, $CONT, $UP, %P, @W, $HALT, $PG, %S, $DEADLINE, %MORE,
  $ENDED, $CAPNEXT, $CSEEN, $CKILL, $CANY, $PAUSED, %ESC, $RNEXT, $RPID, $CBIG);
# Only TERM, INT and HUP mean "stop the job"; nothing else a user may send
# (SIGKILL aside) may end the shim and leave its worker unsupervised.
$SIG{$_} = 'IGNORE' for grep { !/^(KILL|STOP|CONT|CHLD|CLD)$/ } keys %SIG;
$SIG{$_} = sub { $GOT ||= $_[0]; $NEW = 1 } for qw(TERM INT HUP);
$SIG{CHLD} = sub { $CHLD = 1 };
$SIG{CONT} = sub { $CONT = 1 };
my $UMASK = umask;
(my $CTL = $ARGV[0]) =~ s/\.live$/.ctl/;
open($UP, '<', '/proc/uptime') or eval { require Time::HiRes };
# In ms: the uptime where /proc has it (readers date it by the mtime).
sub now {
  return defined &Time::HiRes::time ? int(Time::HiRes::time() * 1000) : time() * 1000 unless $UP;
  sysseek($UP, 0, 0);
  sysread($UP, my $b, 64);
  int($b * 1000);
}
sub stamp { ($UP ? 'u' : 'e') . now() }
sub slurp {
  my ($fh, $t, $b) = (@_, '', '');
  sysseek($fh, 0, 0);
  $t .= $b while sysread($fh, $b, 65536);
  my @l = split /\n/, $t, -1;
  pop @l;  # after the last newline: nothing, or a line being written
  @l;
}
sub enc { my $s = shift; $s =~ s/([^\x21-\x24\x26-\x7e])/sprintf('%%%02X', ord($1))/ge; $s }
# A journal line, ended by "." so that a reader can tell it whole.
my $LEAD = '';
sub put {
  my $l = $LEAD . join(' ', shift, stamp(), (map { enc($_) } @_), '.') . "\n";
  sysseek(L, 0, 2);
  my $ok = (syswrite(L, $l) || 0) == length $l;
  $LEAD = $ok ? '' : "\n";
  $ok;
}
sub ticks {
  open(my $f, '<', "/proc/$_[0]/stat") or return '-';
  (split / /, (<$f> =~ s/^.*\) //sr))[19];
}
# Ignored signals would be inherited through exec.
sub dflt { $SIG{$_} = 'DEFAULT' for grep { !/^(KILL|STOP)$/ } keys %SIG }
sub min { my $m = shift; for (@_) { $m = $_ if $_ < $m } $m }
# Compiles a section after __END__ ("#: name") through DATA, which stays
# readable if the file is removed (a forked child reads it only while this
# process waits, so their shared offset is never raced).
sub more {
  my ($name, $t, $b) = (@_, '', '');
  return if $MORE{$name}++;
  sysseek(DATA, 0, 0);
  $t .= $b while sysread(DATA, $b, 65536);
  eval(($t =~ /\n#: $name\n(.*?)(?=\n#: |\z)/s)[0]);
  die $@ if $@;
}
sub last_cap { if ($P{logmax}) { more('cap'); $CAPNEXT = 0; cap() } }

# Only the regular file the name holds: no symlink, no FIFO (an open waits).
sub plain { my @l = lstat($_[0]); @l && -f _ && (!$_[1] || (stat $_[1])[1] == $l[1]) }
plain($ARGV[0]) && open(L, '+<', $ARGV[0]) && plain($ARGV[0], \*L) or exit 2;
until (flock(L, 2)) { exit 2 if $! != 4 }
my $go;
for (slurp(\*L)) {
  my ($t, $k, @f) = split / /;
  if ($t eq 'P') { s/%([0-9A-F]{2})/chr(hex($1))/ge for $k, @f; $P{$k} = [@f] }
  $go = 1 if $t eq 'G';
  exit 0 if $t eq 'S' || $t eq 'E';  # supervised before: not twice
}
exit 2 unless $P{argv};
if ($P{gate} && !$go) {
  # Its starter died before it said go: the Deno supervisor decides.
  close L;
  exec { $P{fallback}[0] } @{$P{fallback}};
  exit 2;
}
@W = @{$P{argv}};
put('S', $$, ticks($$), 'shim');
# Late, cancelled already, or with a cap: the rest is needed now.
if (-e $CTL || -l $CTL || (time() + 1) * 1000 >= $P{late}[0] || $GOT) {
  more('stop');
  first();
}
$DEADLINE = now() + $P{timeout}[0] if $P{timeout}[0] > 0;

# An attempt's worker, in a group of its own; a program that cannot run is
# told by a pipe that exec closes.
sub start {
  my ($r, $wr);
  pipe($r, $wr) or return (undef, "fpipe: $!");
  my $w = fork();
  return (undef, "ffork: $!") unless defined $w;
  if (!$w) {
    close $r;
    my $why = eval {
      # setsid by its syscall number where the plan knows it (no POSIX).
      eval { $P{setsid} && syscall($P{setsid}[0]) > 0 }
        || eval { require POSIX; POSIX::setsid() } || setpgrp(0, 0);
      dflt();
      umask($UMASK);
      $ENV{EPACK_DETACH_JOB_ID} = $P{id}[0];
      my $log = $P{log}[0];
      return "fcannot change to $P{cwd}[0]: $!" unless chdir($P{cwd}[0]);
      open(STDIN, '<', '/dev/null') && open(STDOUT, '>>', $log)
        && open(STDERR, '>&', \*STDOUT) or return "fcannot open the log $log: $!";
      exec { $W[0] } @W;
      my @e = ($! + 0, "$!");
      more('end');
      notrun(@e);
    };
    syswrite($wr, $why // "f$@");
    exit 127;
  }
  close $wr;
  my $why = '';
  sysread($r, $why, 65536);
  return ($w) if $why eq '';
  waitpid($w, 0);
  (undef, $why);
}
sub lease {
  return unless $P{renew} && now() >= $RNEXT;
  more('renew');
  renew();
}
sub check {
  lease();
  if ($NEW || $DEADLINE && now() >= $DEADLINE || %S) {
    more('stop');
    halts($_[0]);
  }
  if ($P{logmax}) {
    more('cap');
    cap();
  }
}
sub wake_in {
  my @at = (now() + 2000);
  push @at, $DEADLINE if $DEADLINE;
  push @at, $S{kill} if %S && !$S{killed} && !$S{done};
  push @at, $CAPNEXT if $P{logmax};
  push @at, $RNEXT if $P{renew} && $RNEXT;
  my $ms = min(@at) - now();
  ($ms < 1 ? 1 : $ms) / 1000;
}
sub nap { select(undef, undef, undef, $_[0]) unless $CHLD || $NEW || $CONT; $CHLD = $CONT = 0 }

for (my $n = 1;; $n++) {
  my ($w, $st) = start();
  if (defined $w) {
    $PG = $w;
    put('W', $n, $w, ticks($w));
    for (;;) {
      my $got = waitpid($w, 1);
      if ($got == $w || $got == -1) { $st = $got == -1 ? 'fthe worker could not be waited for' : $? & 127 ? 'k' . ($? & 127) . ($? & 128 ? 'c' : '') : 'x' . ($? >> 8); last }
      check($w);
      nap(wake_in());
    }
  }
  my $tend = stamp();
  # What the worker left in its group runs unsupervised once it has ended.
  if (defined $w && !%S && kill(0, -$w)) { more('stop'); left($w) }
  # A reader who sees the end finds the log under its cap.
  last_cap();
  # The common end is written before the rest of this file is compiled.
  if (defined $w && !%S && !$HALT && ($st eq 'x0' || $n > @{$P{pauses} || []})) {
    kill('-CONT', $w);
    $ENDED = put('E', $tend, $n, $st, '-', 0, '-');
  }
  more('end');
  after($n, $w, $st, $tend);
}
__END__
#: renew
# A store shared by hosts (store/pg_lease.ts): a pass of the host's
# renewer when its state file is older than due and its lock free.
sub renew {
  my ($lock, $state, $due, $stuck, @argv) = @{$P{renew}};
  $RNEXT = now() + $due;
  my @s = stat $state;
  my $age = @s ? (time() - $s[9]) * 1000 : -1;
  return if $age >= 0 && $age < $due;
  # A pass of ours that outlived its end (stopped, hung) is killed; one
  # that holds the lock that long is killed by the next pass.
  if ($RPID && waitpid($RPID, 1) == 0) {
    return if $age < $stuck;
    kill('KILL', $RPID);
    waitpid($RPID, 0);
  }
  $RPID = 0;
  open(my $f, '>>', $lock) or return;
  flock($f, 6) or $age >= $stuck or return;
  open(my $t, '>>', $state) or return;
  close $t;
  utime(undef, undef, $state);
  my $r = fork();
  if (defined $r && !$r) {
    dflt();
    chdir('/') unless (stat '.')[3];
    exec { $argv[0] } @argv;
    exit 127;
  }
  $RPID = $r if $r;
}
#: stop
# Late, or cancelled before it started: the end, unrun.
sub first {
  more('end');
  my $t = stamp();
  ending($t, 0, '-', 'late', 0, '-') if (time() + 1) * 1000 >= $P{late}[0];
  read_ctl();
  ending($t, 0, '-', 'pre', 0, '-') if $GOT || $CANY;
}
# The control file: C <grace left in ms>, P, R.
sub read_ctl {
  # O_NONBLOCK: a FIFO put there after the lstat does not wait for a writer.
  plain($CTL) && sysopen(my $c, $CTL, $^O eq 'linux' ? 2048 : 4) && plain($CTL, $c) or return;
  if (-s $c > 65536) { more('end'); $CBIG++ or note('the control file is over 64 KiB: ignored'); return }
  my @l = slurp($c);
  my $t = now();
  for my $i ($CSEEN .. $#l) {
    my ($k, $v) = split / /, $l[$i];
    if ($k eq 'C') {
      $CANY = 1;
      my $at = $t + ($v > 0 ? $v : 0);
      $CKILL = $at if !defined $CKILL || $at < $CKILL;
    }
    $PAUSED = $k eq 'P' if $k eq 'P' || $k eq 'R';
  }
  $CSEEN = @l if @l > $CSEEN;
}
sub stat_of {
  open(my $f, '<', "/proc/$_[0]/stat") or return;
  my $s = <$f>;
  $s =~ s/^.*\) //s ? split(/ /, $s) : ();
}
# The live processes of group $g, or (-1) where /proc cannot tell.
sub members {
  my ($g, @m) = @_;
  opendir(my $d, '/proc') or return kill(0, -$g) ? (-1) : ();
  for (readdir $d) {
    next unless /^\d+$/ && $_ != $$;
    my @s = stat_of($_);
    push @m, $_ if @s && $s[2] == $g && $s[0] !~ /[ZX]/;
  }
  @m;
}
# Signals the job's marked processes outside its group; whether any.
sub sweep {
  opendir(my $d, '/proc') or return 0;
  my ($mark, $any) = ("\0EPACK_DETACH_JOB_ID=$P{id}[0]\0", 0);
  for my $p (readdir $d) {
    next unless $p =~ /^\d+$/ && $p != $$;
    open(my $e, '<', "/proc/$p/environ") or next;
    local $/;
    my $env = <$e>;
    next unless index("\0$env", $mark) >= 0;
    my @s = stat_of($p);
    next unless @s && $s[2] != $PG && $s[0] !~ /[ZX]/;
    $ESC{$p} = 1;
    for my $sg (@_) { $any = 1 if kill($sg, $p) }
  }
  $S{looked} = 1;
  $any;
}
sub gone {
  !members($PG) && !grep({ my @s = stat_of($_); @s && $s[0] !~ /[ZX]/ } keys %ESC)
    && !sweep('TERM', 'CONT');
}
sub halt { $HALT ||= $_[0] }
# What a worker that ended by itself left in its group: stopped, and said.
sub left {
  my ($g) = @_;
  my @m = members($g) or return;
  kill('-TERM', $g);
  kill('-CONT', $g);
  my $k = now() + $P{grace}[0];
  select(undef, undef, undef, 0.02) while members($g) && now() < $k;
  kill('-KILL', $g);
  more('end');
  note('stopped ' . ($m[0] < 0 ? 'what' : scalar(@m) . ' process' . (@m > 1 ? 'es' : '')) . ' the job left in its process group');
}
# SIGTERM (and SIGCONT: a paused group acts on it) now, SIGKILL at $k, or
# sooner if a later stop asks.
sub stop {
  my ($k) = @_;
  if (%S) { $S{kill} = $k if $k < $S{kill}; return }
  %S = (at => now(), kill => $k, killed => 0);
  kill('-TERM', $PG);
  kill('-CONT', $PG);
  sweep('TERM', 'CONT');
}
sub halts {
  my ($w) = @_;
  my $t = now();
  if ($NEW) {
    $NEW = 0;
    read_ctl();
    halt($CANY ? 'c' : "s$GOT");
    stop(defined $CKILL ? $CKILL : $t + $P{grace}[0]) if $w;
  }
  if ($DEADLINE && $t >= $DEADLINE) { halt('t'); stop($t + $P{grace}[0]) if $w }
  if (%S && !$S{killed} && !$S{done} && $t >= $S{kill}) {
    if (gone()) { $S{done} = 1 }
    else {
      kill('-KILL', $PG);
      sweep('KILL');
      @S{qw(killed until)} = (1, now() + 2000);
    }
  }
}
#: cap
my ($CAPWAIT, $LSIZE, $LAT, $LOG, $CAP) = (1, 0, 0, $P{log}[0], $P{logmax}[0]);
sub cap {
  my $t = now();
  return if $t < $CAPNEXT;
  my ($s, $half) = (-s $LOG || 0, int($CAP / 2));
  my $rate = $LAT && $s > $LSIZE ? ($s - $LSIZE) / ($t - $LAT || 1) : 0;
  if ($s >= $half) { eval { rotate($s, $half) }; $s = -s $LOG || 0 }
  ($LSIZE, $LAT) = ($s, now());
  my $wait = $rate > 0 ? ($half - $s) / $rate / 2 : $CAPWAIT * 2;
  $CAPWAIT = $wait < 1 ? 1 : $wait > 100 ? 100 : $wait;
  $CAPNEXT = now() + $CAPWAIT;
}
# Copies $in's bytes [$at, $end) onto $out; returns where it stopped.
sub copy {
  my ($in, $out, $at, $end, $b) = @_;
  sysseek($in, $at, 0);
  while ($at < $end) {
    my $n = sysread($in, $b, min(65536, $end - $at)) or last;
    syswrite($out, $b);
    $at += $n;
  }
  $at;
}
# The newest half of the cap goes to <log>.1, then the log is truncated
# (the worker appends: its next write lands at the new end).
sub rotate {
  my ($size, $half) = @_;
  my @n = lstat($LOG);
  return unless @n && -f _;
  open(my $in, '+<', $LOG) or return;
  my @o = stat($in);
  return if $o[0] != $n[0] || $o[1] != $n[1] || $o[3] == 0;
  (my $tmp = $LOG) =~ s{([^/]*)$}{.$1.1.};
  $tmp .= int(rand(1e9)) . '.tmp';
  umask(077);
  my $ok = open(my $out, '>', $tmp);
  umask($UMASK);
  return unless $ok;
  my $from = $size > $half ? $size - $half : 0;
  if ($from > 0) {
    # From the start of a line: the newest half's first whole line.
    my $b = '';
    sysseek($in, $from - 1, 0);
    sysread($in, $b, 65536);
    my $i = index($b, "\n");
    $from += $i if $i >= 0;
  }
  my $at = copy($in, $out, $from, $size);
  for (1 .. 16) {
    my $end = -s $in;
    last if $end <= $at || $at - $from >= 2 * $half;
    $at = copy($in, $out, $at, min($end, $from + 2 * $half));
  }
  rename($tmp, "$LOG.1") or return unlink($tmp);
  my $end = -s $in;
  copy($in, $out, $at, min($end, $from + 2 * $half)) if $end > $at;
  truncate($in, 0);
}
#: end
# A line of the log between two attempts, after what is there.
sub note {
  my $log = $P{log}[0];
  return unless -f $log && open(my $f, '+>>', $log);
  my ($sz, $c, $lead) = (-s $f, '', '');
  if ($sz) { sysseek($f, $sz - 1, 0); sysread($f, $c, 1); $lead = "\n" if $c ne "\n" }
  syswrite($f, "$lead\[\@epack/detach] $_[0]\n");
}
# Why the program could not be run, as a shell would say it.
sub notrun {
  my ($e, $m, $p) = (@_, $W[0]);
  my ($code, $w) = $e == 2 || $e == 20
    ? (-e $p ? (126, "cannot execute $p: bad interpreter") : (127, "command not found: $p"))
    : (126, "cannot execute $p: " . (-d $p ? 'is a directory' : $e == 13 ? 'permission denied' : lcfirst($m)));
  syswrite(STDERR, "[\@epack/detach] $w\n");
  "n$code:$w";
}
sub said { $_[0] =~ /^k(\d+)/ ? ($P{sig}[$1] || "signal $1") : $_[0] =~ /^[xn](\d+)/ ? "exit code $1" : $_[0] }
# After attempt $n (worker $w, its status $st): its end, or the next one.
sub after {
  my ($n, $w, $st, $tend) = @_;
  my $stopped = '-';
  if (defined $w) {
    while (%S && !$S{done} && !($S{killed} && now() >= $S{until}) && !gone()) {
      check(0);
      nap(min(0.02, wake_in()));
    }
    last_cap() if %S;
    kill('-CONT', $w);  # what is left of a paused group goes on
    $stopped = join(',', $S{at}, $S{kill}, $S{killed}, $S{looked} ? scalar(keys %ESC) : '-', join('.', grep { $_ > 0 } members($w))) if %S;
  }
  ending($tend, $n, $st, '-', 0, '-') if $st =~ /^f/;
  ending($tend, $n, $st, $HALT, 0, $stopped) if $stopped ne '-';
  ending($tend, $n, $st, '-', 0, '-') if $st eq 'x0' || $n > @{$P{pauses} || []};
  ending($tend, $n, $st, $HALT, 1, '-') if $HALT;
  put('A', $tend, $n, $st);
  my ($ms, $text) = split /:/, $P{pauses}[$n - 1], 2;
  note('attempt ' . ($n + 1) . ' of ' . (@{$P{pauses}} + 1) . ' after ' . said($st) . ", in $text");
  # A pause held the worker that ended; the next one runs (a later pause
  # holds it), and the record reads running once it starts.
  more('stop');
  read_ctl();
  note('the job was paused: attempt ' . ($n + 1) . ' will run, not paused') if $PAUSED;
  $PAUSED = 0;
  my $end = now() + $ms;
  while (!$HALT && now() < $end) {
    check(0);
    nap(min(($end - now()) / 1000, wake_in()));
  }
  read_ctl();
  while ($PAUSED && !$HALT) { nap(min(1, wake_in())); check(0); read_ctl() }
  ending($tend, $n, $st, $HALT, 1, '-') if $HALT;
}
# The end: written durably, then the finisher. Each is tried again while
# it fails (a full disk, a store away), the lock held (the job reads as
# supervised, its lease renewed), for up to a day, until the job is deleted.
sub ending {
  my ($pause, $until) = (1, time() + 86400);
  my $wait = sub {
    exit 1 if time() > $until || !(stat L)[3];
    for (1 .. $pause) { lease(); sleep 1 }
    $pause *= 2 if $pause < 60;
  };
  $wait->() until $ENDED || put('E', @_);
  eval { require IO::Handle; IO::Handle::sync(\*L) };
  $pause = 1;
  for (;;) {
    my $f = fork();
    if (defined $f && !$f) {
      dflt();
      chdir('/') unless (stat '.')[3];
      exec { $P{finish}[0] } @{$P{finish}};
      exit 127;
    }
    # 0: done, or nothing can ever be done; any other end is tried again.
    if ($f) { waitpid($f, 0); exit 0 if $? == 0 }
    $wait->();
  }
}
`;
