// Rule 5: no command blocks for ever on a lock that a stopped process
// holds (a record's lock, the scheduler's), and one that gives up says
// which lock and whose.

import assert from "node:assert/strict";
import { FileJobStore } from "../jobs.ts";
import { jobs } from "../testdata/cli_helpers.ts";

/** A perl process that holds an exclusive flock on `path`, then SIGSTOPped. */
async function stoppedHolder(path: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("perl", {
    args: [
      "-e",
      'use Fcntl ":flock"; open(F, ">>", $ARGV[0]) or die; flock(F, LOCK_EX) or die; $| = 1; print "held\\n"; sleep 600',
      path,
    ],
    stdin: "null",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  await child.stdout.cancel();
  assert.equal(new TextDecoder().decode(value), "held\n");
  Deno.kill(child.pid, "SIGSTOP");
  return child;
}

async function end(child: Deno.ChildProcess): Promise<void> {
  Deno.kill(child.pid, "SIGKILL");
  Deno.kill(child.pid, "SIGCONT");
  await child.status;
}

Deno.test("a record lock held by a stopped process: commands give up, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_h20b_lock_" });
  const store = new FileJobStore(dir);
  const job = await store.create({ command: "x" });
  const holder = await stoppedHolder(`${dir}/${job.id}.lock`);
  try {
    const t0 = Date.now();
    const r = await jobs(dir, "cancel", job.id);
    assert.ok(Date.now() - t0 < 30_000, "waited too long");
    assert.notEqual(r.code, 0);
    const line = r.stderr.trim();
    assert.equal(line.split("\n").length, 1, line);
    assert.match(line, new RegExp(`${job.id}\\.lock`));
    assert.match(line, new RegExp(`held by PID ${holder.pid}`));
  } finally {
    await end(holder);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a scheduler lock held by a stopped process: jobs warns and goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_h20b_lock_" });
  const store = new FileJobStore(dir);
  await store.create({ command: "x" });
  await Deno.writeTextFile(`${dir}/.pending`, "");
  const holder = await stoppedHolder(`${dir}/.schedule.lock`);
  try {
    const r = await jobs(dir, "--all");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^warning: queued and waiting jobs not started: .*\\.schedule\\.lock \\(held by PID ${holder.pid}\\)\n$`,
      ),
    );
  } finally {
    await end(holder);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a broken limit file or scheduler lock is said, not silent", async (t) => {
  for (
    const [name, make] of [
      [
        "a limit file that is a directory",
        (d: string) => Deno.mkdir(`${d}/limit`),
      ],
      [
        "a limit file of garbage",
        (d: string) => Deno.writeTextFile(`${d}/limit`, "zz\n"),
      ],
      [
        "a scheduler lock that is a directory",
        (d: string) => Deno.mkdir(`${d}/.schedule.lock`),
      ],
    ] as const
  ) {
    await t.step(name, async () => {
      const dir = await Deno.makeTempDir({ prefix: "detach_h20b_lock_" });
      try {
        await new FileJobStore(dir).create({ command: "x" });
        await Deno.writeTextFile(`${dir}/.pending`, "");
        await make(dir);
        const r = await jobs(dir, "--all");
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stderr,
          /^warning: queued and waiting jobs not started: .+\n$/,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});
