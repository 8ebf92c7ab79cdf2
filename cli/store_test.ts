// The CLI on a job store shared by hosts: a real throwaway PostgreSQL
// cluster, two "hosts" on it (EPACK_DETACH_HOST), the real CLI as a
// subprocess. `run --detach --store URL` on host A; `jobs`, `jobs <id>`,
// `jobs logs` and `jobs cancel` on host B, the store named by --store or
// by EPACK_DETACH_STORE.
import { startCluster } from "../testdata/pg_cluster.ts";
import { assert, assertEquals } from "../testdata/cli_helpers.ts";
import { removeSettled, until as poll } from "../testdata/poll.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
// Each host's logs go to its user's state directory: one of the test's own.
const STATE = Deno.makeTempDirSync({ prefix: "detach_cli_state_" });

async function epack(
  host: string,
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: {
      NO_COLOR: "1",
      EPACK_DETACH_HOST: host,
      XDG_STATE_HOME: STATE,
      ...env,
    },
    ...(cwd !== undefined ? { cwd } : {}),
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("the CLI on a store shared by two hosts", async (t) => {
  await using cluster = await startCluster();
  const dir = await Deno.makeTempDir({ prefix: "detach_cli_pg_" });
  const url = `${cluster.url}?epack_lease_ttl=3000&epack_renew_every=1000`;
  const ids: string[] = [];
  try {
    const start = async (host: string, script: string) => {
      const r = await epack(
        host,
        [
          "run",
          "--detach",
          "--json",
          "--store",
          url,
          "--",
          "sh",
          "-c",
          script,
        ],
        {},
        dir,
      );
      assertEquals(r.code, 0, r.stderr);
      const started = JSON.parse(r.stdout);
      assertEquals(started.host, host);
      ids.push(started.id);
      return started.id as string;
    };
    const done = await start("host-a", "echo from-a; echo second-line");
    const long = await start("host-a", "sleep 300");
    const onB = await start("host-b", "sleep 300");

    await t.step(
      "the hints of run --detach name the store, its password hidden",
      async () => {
        const r = await epack(
          "host-a",
          [
            "run",
            "--detach",
            "--store",
            url,
            "--",
            "true",
          ],
          {},
          dir,
        );
        assertEquals(r.code, 0, r.stderr);
        const id = /^Started job (\w+) /.exec(r.stdout)?.[1];
        assert(id !== undefined, r.stdout);
        ids.push(id);
        const password = new URL(cluster.url).password;
        assert(!r.stdout.includes(password), "password shown");
        const redacted = new URL(url);
        redacted.password = "***";
        for (const label of ["Status:", "Follow:"]) {
          const line = r.stdout.split("\n").find((l) =>
            l.trim().startsWith(label)
          );
          assert(
            line?.includes(` --store '${redacted.href}'`) === true,
            r.stdout,
          );
        }
      },
    );

    await t.step(
      "jobs shows a HOST column when more than one host has jobs",
      async () => {
        // The store from the environment this time.
        const r = await epack("host-b", ["jobs"], { EPACK_DETACH_STORE: url });
        assertEquals(r.code, 0, r.stderr);
        const lines = r.stdout.trimEnd().split("\n");
        assert(
          /^ID\s+STATUS\s+STARTED\s+DURATION\s+HOST\s+COMMAND$/.test(lines[0]),
          lines[0],
        );
        const row = lines.find((l) => l.startsWith(long));
        assert(
          row !== undefined &&
            /running\s.*\shost-a\s+sh -c 'sleep 300'$/.test(row),
          row,
        );
        assert(
          lines.some((l) => l.startsWith(onB) && / host-b /.test(l)),
          r.stdout,
        );
      },
    );

    await t.step(
      "jobs <id> and jobs logs from another host say where the log is",
      async () => {
        await poll(
          "the short job's end",
          async () => {
            const r = await epack("host-b", [
              "jobs",
              done,
              "--json",
              "--store",
              url,
            ]);
            return JSON.parse(r.stdout).status === "completed";
          },
          20_000,
          100,
        );
        const show = await epack("host-b", ["jobs", done, "--store", url]);
        assertEquals(show.code, 0, show.stderr);
        assert(/Host:\s+host-a/.test(show.stdout), show.stdout);
        assert(
          show.stdout.includes("The log is on host host-a, at "),
          show.stdout,
        );
        assert(show.stdout.includes("  from-a\n  second-line\n"), show.stdout);
        const logs = await epack("host-b", [
          "jobs",
          "logs",
          done,
          "--store",
          url,
        ]);
        assertEquals(logs.code, 0, logs.stderr);
        assertEquals(logs.stdout, "from-a\nsecond-line\n");
        assert(
          logs.stderr.includes("is on host host-a, at "),
          logs.stderr,
        );
        // A running job's log cannot be read from here: say so, in one line.
        const running = await epack("host-b", [
          "jobs",
          "logs",
          long,
          "--store",
          url,
        ]);
        assertEquals(running.code, 1, running.stdout);
        assert(
          /is on host host-a, at .*run this command there/.test(running.stderr),
          running.stderr,
        );
        assertEquals(
          running.stderr.trim().split("\n").length,
          1,
          running.stderr,
        );
        // On its own host, the log is read.
        const here = await epack("host-a", [
          "jobs",
          "logs",
          done,
          "--store",
          url,
        ]);
        assertEquals(here.stdout, "from-a\nsecond-line\n", here.stderr);
      },
    );

    await t.step("jobs cancel from host B stops host A's job", async () => {
      const r = await epack("host-b", ["jobs", "cancel", long, "--store", url]);
      assertEquals(r.code, 0, r.stderr);
      const shown = await epack("host-b", [
        "jobs",
        long,
        "--json",
        "--store",
        url,
      ]);
      assertEquals(
        JSON.parse(shown.stdout).status,
        "cancelled",
        r.stdout + r.stderr + shown.stdout,
      );
      const own = await epack("host-b", [
        "jobs",
        "cancel",
        onB,
        "--store",
        url,
      ]);
      assertEquals(own.code, 0, own.stderr);
    });

    await t.step("a bad store is one line, no stack trace", async () => {
      const bad = new URL(cluster.url);
      bad.password = "wrong";
      const r = await epack("host-b", ["jobs", "--store", bad.href]);
      assertEquals(r.code, 1);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert(r.stderr.includes("refused the credentials"), r.stderr);
      assert(!r.stderr.includes("wrong"), "password shown");
    });
  } finally {
    // Anything left running is killed by its mark.
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
        if (ids.some((id) => env.includes(`EPACK_DETACH_JOB_ID=${id}\0`))) {
          Deno.kill(Number(e.name), "SIGKILL");
        }
      } catch {
        // Gone.
      }
    }
    await removeSettled(dir);
    await removeSettled(STATE);
  }
});
