// `jobs logs -f` of a job whose log cap drops output the follower has not
// read yet: a real detached job, a real follower held back by a full pipe
// while the supervisor rotates the log many times.

import assert from "node:assert/strict";
import { cli, MOD, withTempDir } from "../testdata/cli_helpers.ts";

Deno.test("jobs logs -f says where the log cap dropped output before it was read, and no byte twice", async () => {
  await withTempDir(async (dir) => {
    const at = ["--jobs-dir", `${dir}/jobs`];
    // Once the follower is there (it has printed "start") and the test
    // says so: 20 bursts of 500 numbered 100-byte lines against a 64 KiB
    // cap (rotated at 32 KiB), each burst waiting until the cap has
    // rotated the log, so that many rotations go by while the follower is
    // held, however slow the supervisor is on a loaded machine. Then, once
    // the log is under the rotation threshold, a last line, which no
    // rotation can lose (bytes written between a rotation's last copy and
    // its truncate are lost).
    const marker = `${dir}/go`;
    const script = `
      log="$1/$EPACK_DETACH_JOB_ID.log"
      echo start
      while [ ! -e "$0" ]; do sleep 0.01; done
      i=1
      while [ $i -le 10000 ]; do
        printf "%099d\\n" $i; i=$((i+1))
        if [ $((i % 500)) = 1 ]; then
          while [ "$(wc -c < "$log")" -ge 50000 ]; do sleep 0.01; done
        fi
      done
      while [ "$(wc -c < "$log")" -ge 32768 ]; do sleep 0.01; done
      echo end`;
    const started = await cli([
      "run",
      "--detach",
      ...at,
      "--json",
      "--log-max",
      "64KiB",
      "--timeout",
      "60s",
      "--",
      "sh",
      "-c",
      script,
      marker,
      `${dir}/jobs`,
    ]);
    assert.equal(started.code, 0, started.stderr);
    const { id: jobId } = JSON.parse(started.stdout);
    const follower = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MOD, "jobs", "logs", jobId, "-f", ...at],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = follower.stdout.getReader();
    let out = "";
    const decoder = new TextDecoder();
    while (!out.startsWith("start\n")) {
      const { value, done } = await reader.read();
      assert.ok(!done, `ended early: ${out}`);
      out += decoder.decode(value, { stream: true });
    }
    // Its stdout is not read again until the job has ended: the follower
    // stops at a full pipe while the cap drops what it has not read.
    await Deno.writeTextFile(marker, "");
    const waited = await cli(["jobs", "wait", jobId, ...at]);
    assert.equal(waited.code, 0, waited.stdout + waited.stderr);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value, { stream: true });
    }
    const err = new TextDecoder().decode(
      await new Response(follower.stderr).arrayBuffer(),
    );
    const { code } = await follower.status;
    assert.equal(code, 0, err);

    // Needs the writer side (branch `supervise`) from here on. Each gap is
    // told on stderr, once; nothing else is.
    const notes = err.split("\n").filter((l) => l !== "");
    assert.ok(notes.length >= 1, "no gap told");
    for (const note of notes) {
      assert.match(
        note,
        /^warning: .*: output may have been dropped by the log cap before it could be read$/,
      );
    }
    // No line twice, none out of order, and the output ends with the job's
    // last line. Where the follower stopped before a gap it may have
    // read part of a line: at most one broken line per gap.
    const lines = out.split("\n");
    assert.equal(lines.shift(), "start");
    assert.equal(lines.pop(), "", "the output ends with a newline");
    assert.equal(lines.pop(), "end");
    const whole = lines.filter((l) => /^\d{99}$/.test(l)).map(Number);
    assert.ok(lines.length - whole.length <= notes.length, "broken lines");
    for (let i = 1; i < whole.length; i++) {
      assert.ok(whole[i] > whole[i - 1], `${whole[i]} after ${whole[i - 1]}`);
    }
    assert.ok(whole.length > 0);
  });
});
