import assert from "node:assert/strict";
import { constants } from "node:os";
import {
  QUIET_SIGNALS,
  quietLaunch,
  signalName,
  signalNumber,
} from "./signals.ts";

Deno.test("signalNumber() agrees with the platform's own table", () => {
  const platform = constants.signals as Record<string, number>;
  for (
    const name of [
      "SIGHUP",
      "SIGINT",
      "SIGKILL",
      "SIGTERM",
      "SIGUSR1",
      "SIGCHLD",
      "SIGSTOP",
      "SIGCONT",
    ]
  ) {
    assert.equal(signalNumber(name), platform[name], name);
  }
  assert.equal(signalNumber("sigterm"), 15);
  assert.equal(signalNumber("SIGNOPE"), undefined);
});

Deno.test("the macOS table has BSD's numbers", () => {
  assert.equal(signalNumber("SIGUSR1", "darwin"), 30);
  assert.equal(signalNumber("SIGCHLD", "darwin"), 20);
  assert.equal(signalName(17, "darwin"), "SIGSTOP");
  assert.equal(signalName(17, "linux"), "SIGCHLD");
  assert.equal(signalName(99), undefined);
});

/** The signals `pid` blocks, from /proc's SigBlk. */
function blocked(text: string): string[] {
  const mask = BigInt(`0x${/^SigBlk:\s*(\S+)$/m.exec(text)![1]}`);
  return QUIET_SIGNALS.filter((s) =>
    (mask & (1n << BigInt(signalNumber(s)! - 1))) !== 0n
  );
}

Deno.test("quietLaunch() starts a program with every quiet signal blocked", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "detach_signals_" });
  try {
    // A path holding "=" is not given to env, which would take it for an
    // assignment: perl blocks them then.
    await Deno.mkdir(`${dir}/a=b`);
    await Deno.symlink("/bin/grep", `${dir}/a=b/grep`);
    for (const program of ["/bin/grep", `${dir}/a=b/grep`]) {
      await t.step(program, async () => {
        const prefix = quietLaunch(program);
        assert.ok(prefix.length > 0, "env or perl is there");
        const out = await new Deno.Command(prefix[0], {
          args: [...prefix.slice(1), program, "SigBlk", "/proc/self/status"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const text = new TextDecoder().decode(out.stdout);
        assert.deepEqual(blocked(text), [...QUIET_SIGNALS]);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await t.step("none for a relative program", () => {
    assert.deepEqual(quietLaunch("grep"), []);
  });
});

Deno.test("a program started by quietLaunch() starts its children with the signals unblocked, and they inherit no trace of it", async () => {
  const script = `
    import { quietSignalsBlocked, unquietLaunch } from ${
    JSON.stringify(new URL("./signals.ts", import.meta.url).href)
  };
    const via = unquietLaunch();
    console.log(quietSignalsBlocked());
    // Exec'd straight by what unblocks: the mask it was given.
    await new Deno.Command(via[0], {
      args: [...via.slice(1), "/bin/grep", "^SigBlk", "/proc/self/status"],
      stdout: "inherit",
    }).output();
    await new Deno.Command("/bin/grep", {
      args: ["-a", "-c", "EPACK_DETACH_QUIET", "/proc/self/environ"],
      stdout: "inherit",
    }).output();
  `;
  const deno = Deno.execPath();
  const prefix = quietLaunch(deno);
  assert.ok(prefix.length > 0, "env or perl is there");
  const out = await new Deno.Command(prefix[0], {
    args: [...prefix.slice(1), deno, "eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(text, /^true\nSigBlk:\s*0+\n0\n$/);
});

Deno.test("ignoreQuietSignals() keeps a Deno process alive through SIGUSR2, SIGQUIT, SIGALRM, SIGVTALRM and SIGPROF", async () => {
  const script = `
    import { ignoreQuietSignals } from ${
    JSON.stringify(new URL("./signals.ts", import.meta.url).href)
  };
    using _quiet = ignoreQuietSignals();
    console.log("ready");
    for await (const _ of Deno.stdin.readable) break;
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /ready/);
    const signals = ["SIGUSR2", "SIGQUIT", "SIGALRM", "SIGVTALRM", "SIGPROF"];
    for (const s of signals) Deno.kill(child.pid, s as Deno.Signal);
    // A killed child would be gone now: its status would settle.
    const writer = child.stdin.getWriter();
    await writer.write(new Uint8Array([10]));
    await writer.close();
    const status = await child.status;
    assert.equal(status.signal, null, `ended by ${status.signal}`);
    assert.equal(status.code, 0);
  } finally {
    reader.releaseLock();
    await child.stdout.cancel();
  }
});
