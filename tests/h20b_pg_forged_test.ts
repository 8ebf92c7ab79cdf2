// Rule 2 on a real PostgreSQL: a forged row (any client that can write the
// table) makes this host neither read, print, delete nor signal anything
// on its word alone. Its log is the one its ID names under this host's
// log directory; a PID is signalled only on the job's liveness lock.

import { removeSettled } from "../testdata/poll.ts";
import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { clusterForFile } from "../testdata/pg_cluster.ts";
import { MOD } from "../testdata/cli_helpers.ts";
import { PostgresJobStore } from "../postgres.ts";

const cluster = clusterForFile();

async function cli(store: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "jobs", ...args, "--store", store],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("forged rows: no file read or removed, no process signalled", async (t) => {
  const url = await (await cluster()).createDatabase();
  const dir = await Deno.makeTempDir({ prefix: "detach_h20b_forged_" });
  const logDir = `${dir}/logs`;
  const victim = `${dir}/victim.txt`;
  await Deno.writeTextFile(victim, "SECRET CONTENTS\n");
  const storeUrl = `${url}?epack_log_dir=${encodeURIComponent(logDir)}` +
    `&epack_host=host-a`;
  await using store = await PostgresJobStore.open(url, {
    logDir,
    host: "host-a",
  });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  // A process of this user that a forged row names.
  const bystander = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const forge = async (status: string, extra: Record<string, unknown>) => {
      const job = await store.create({ command: "x" });
      await store.finish(job.id, { status: "completed", exitCode: 0 });
      const [{ record }] =
        await sql`SELECT record FROM epack_detach_jobs WHERE id = ${job.id}`;
      const forged = {
        ...JSON.parse(record),
        status,
        log_path: victim,
        pid: bystander.pid,
        worker_pid: bystander.pid,
        ...extra,
      };
      await sql`UPDATE epack_detach_jobs SET record = ${
        JSON.stringify(forged)
      }, status = ${status}, ended_at = now() - interval '2 days'
      WHERE id = ${job.id}`;
      return job.id;
    };
    await t.step("jobs logs reads the ID's log, not the row's", async () => {
      const id = await forge("completed", {});
      for (const args of [["logs", id], [id], [id, "--json"]]) {
        const r = await cli(storeUrl, ...args);
        assert.ok(!(r.stdout + r.stderr).includes("SECRET"), r.stdout);
      }
    });
    await t.step("jobs rm and clean remove the ID's files only", async () => {
      const id = await forge("completed", {});
      const rm = await cli(storeUrl, "rm", id);
      assert.equal(rm.code, 0, rm.stderr);
      await forge("failed", {});
      const clean = await cli(storeUrl, "clean", "--older-than", "1d");
      assert.equal(clean.code, 0, clean.stderr);
      assert.equal(await Deno.readTextFile(victim), "SECRET CONTENTS\n");
    });
    await t.step(
      "a running row naming a PID: cancel signals nothing",
      async () => {
        const id = await forge("running", {
          supervised_at: new Date().toISOString(),
        });
        await sql`UPDATE epack_detach_jobs SET lease_until = now() + interval '1 hour'
        WHERE id = ${id}`;
        await cli(storeUrl, "cancel", id);
        const status = await Promise.race([
          bystander.status.then(() => "ended"),
          // A signal sent went before cancel returned; its effect is awaited
          // this long at most (a bound on a non-event, not a synchronisation).
          new Promise((r) => setTimeout(() => r("alive"), 500)),
        ]);
        assert.equal(status, "alive", "the bystander was signalled");
      },
    );
  } finally {
    try {
      bystander.kill("SIGKILL");
    } catch { /* ended */ }
    await bystander.status;
    await sql.end({ timeout: 1 });
    await removeSettled(dir);
  }
});
