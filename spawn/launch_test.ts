// How a supervisor is started: in a session of its own, with the PID that
// is returned (and recorded), whether through `setsid` or Deno's
// `detached: true`; and a supervisor program that cannot run still fails the
// start at once, as it did before `setsid` stood in front of it.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cancel,
  FileJobStore,
  spawn,
  SpawnError,
  superviseIfRequested,
} from "../mod.ts";
import { setRuntimeForTesting as _setRuntimeForTesting } from "./plan.ts";
import {
  launchSupervisor,
  SETSID_ENV,
  setsidProgram,
  SHIM_ENV,
  unrefdChildOutlivesExit,
} from "./launch.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { namesIn } from "../testdata/full_disk.ts";
import { readProcess } from "../process/inspect.ts";
import { DENO, mustSpawn, until } from "../testdata/spawn_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;

await superviseIfRequested();

/** Runs `fn` with `name` set to `value` (or unset), then restores it. */
async function withEnv(
  name: string,
  value: string | undefined,
  fn: () => void | Promise<void>,
): Promise<void> {
  const old = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  try {
    await fn();
  } finally {
    if (old === undefined) Deno.env.delete(name);
    else Deno.env.set(name, old);
  }
}

/** Runs `fn` with SETSID_ENV set to `value` (or unset), then restores it. */
function withSetsidEnv(
  value: string | undefined,
  fn: () => void | Promise<void>,
): Promise<void> {
  return withEnv(SETSID_ENV, value, fn);
}

/** A job of a store in `dir` whose worker runs `argv`. */
async function jobIn(dir: string, argv: string[] = ["/bin/true"]) {
  const store = new FileJobStore(dir);
  return { store, job: await store.create({ command: "x", argv }) };
}

// Both ways of starting: through setsid (where there is one) and with
// `detached: true`.
const WAYS: [string, string | undefined][] = [
  ["through setsid", undefined],
  [`with detached: true (${SETSID_ENV}=0)`, "0"],
];

Deno.test("unrefdChildOutlivesExit() is true from Deno 2.7.6 on", () => {
  for (const v of ["1.46.3", "2.0.0", "2.6.8", "2.7.1", "2.7.5", "junk", ""]) {
    assert.equal(unrefdChildOutlivesExit(v), false, v);
  }
  for (const v of ["2.7.6", "2.7.14", "2.8.0", "2.9.6", "2.10.0", "3.0.0"]) {
    assert.equal(unrefdChildOutlivesExit(v), true, v);
  }
});

Deno.test("setsidProgram() finds setsid on Linux, and the switch turns it off", async () => {
  if (
    Deno.build.os !== "linux" || !unrefdChildOutlivesExit(Deno.version.deno)
  ) {
    assert.equal(setsidProgram(DENO), undefined);
    return;
  }
  await withSetsidEnv(undefined, () => {
    const found = setsidProgram(DENO);
    // This machine has util-linux: the path below is then exercised.
    assert.ok(found !== undefined, "no setsid found on this Linux machine");
    assert.ok(found.startsWith("/"));
    assert.ok(Deno.statSync(found).isFile);
    // A relative program could be taken for an option of setsid's.
    assert.equal(setsidProgram("deno"), undefined);
  });
  await withSetsidEnv("0", () => {
    assert.equal(setsidProgram(DENO), undefined);
  });
});

for (const [way, env] of WAYS) {
  Deno.test(`launchSupervisor() ${way}: the returned PID leads its own session and is the supervisor itself`, async () => {
    await withTempDir(async (dir) => {
      // A stand-in supervisor: writes what the kernel says of it, then
      // exits. It gets [SUPERVISE_ARG, store, id] after its argv.
      const script = join(dir, "sup.ts");
      await Deno.writeTextFile(
        script,
        `const [, store, id] = Deno.args;
Deno.writeTextFileSync(store + "/" + id + ".tmp", Deno.readTextFileSync("/proc/self/stat").trimEnd() + "\\n" + Deno.execPath());
Deno.renameSync(store + "/" + id + ".tmp", store + "/" + id);
`,
      );
      const { store, job } = await jobIn(dir);
      // The Deno supervisor: the fallback where the shim cannot run.
      await withEnv(SHIM_ENV, "0", () =>
        withSetsidEnv(env, async () => {
          const child = launchSupervisor(
            [DENO, "run", "-A", script],
            store,
            job,
          );
          child.ref();
          try {
            const text = await until("the stand-in to write", () => {
              try {
                return Deno.readTextFileSync(join(dir, job.id));
              } catch {
                return undefined;
              }
            });
            const [stat, exe] = text.split("\n");
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            const [pid, pgid, sid] = [
              Number(stat.slice(0, stat.indexOf(" "))),
              Number(fields[2]),
              Number(fields[3]),
            ];
            assert.equal(
              pid,
              child.pid,
              "the PID returned is the supervisor's",
            );
            assert.equal(pgid, pid, "it leads its process group");
            assert.equal(sid, pid, "it leads its session");
            assert.equal(exe, Deno.realPathSync(DENO), "it is the runtime");
          } finally {
            assert.equal((await child.status).code, 0);
          }
        }));
    });
  });

  Deno.test(`launchSupervisor() ${way}: the shim it starts leads its own session, with the PID returned, and runs the job`, async () => {
    await withTempDir(async (dir) => {
      const { store, job } = await jobIn(dir, ["sleep", "0.3"]);
      await withEnv(SHIM_ENV, undefined, () =>
        withSetsidEnv(env, async () => {
          const child = launchSupervisor([DENO, "run", "-A", MOD], store, job);
          child.ref();
          // Through setsid, it is setsid for a moment, then perl.
          await until("the shim to run", () => {
            const exe = Deno.readLinkSync(`/proc/${child.pid}/exe`);
            return /perl/.test(exe) ? true : undefined;
          });
          const p = readProcess(child.pid)!;
          assert.equal(p.pgid, child.pid, "it leads its process group");
          assert.equal(p.sid, child.pid, "it leads its session");
          assert.equal((await child.status).code, 0);
          const ended = await store.load(job.id);
          assert.equal(ended.status, "completed", ended.error);
          assert.equal(ended.pid, child.pid);
          assert.equal(ended.supervisor, "shim");
        }));
    });
  });

  Deno.test(`spawn() ${way}: the PID returned is the one the supervisor records, and it leads its session`, async () => {
    await withTempDir(async (dir) => {
      await withSetsidEnv(env, async () => {
        // The spawner, a `deno run` of its own, inherits the switch.
        const { jobId, pid } = await mustSpawn({
          command: "sleep",
          args: ["30"],
          store: dir,
          grace: 200,
        });
        try {
          const store = new FileJobStore(dir);
          const job = await until("the worker to start", async () => {
            const j = await store.load(jobId);
            return j.workerPid !== undefined ? j : undefined;
          });
          assert.equal(job.pid, pid, "the supervisor recorded its own PID");
          const p = readProcess(pid)!;
          assert.equal(p.pgid, pid);
          assert.equal(p.sid, pid);
          assert.notEqual(p.sid, readProcess(Deno.pid)!.sid);
        } finally {
          await cancel(jobId, { store: dir, grace: 200 });
        }
      });
    });
  });

  Deno.test(`launchSupervisor() ${way}: a program that cannot run throws, and nothing runs`, async () => {
    await withTempDir(async (dir) => {
      const plain = join(dir, "plain");
      await Deno.writeTextFile(plain, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
      const badShebang = join(dir, "bad-shebang");
      await Deno.writeTextFile(badShebang, "#!/no/such/sh\nexit 0\n", {
        mode: 0o755,
      });
      const { store, job } = await jobIn(dir);
      await withSetsidEnv(env, () => {
        for (const program of [join(dir, "missing"), plain, dir, badShebang]) {
          assert.throws(
            () => launchSupervisor([program], store, job),
            Error,
            program,
          );
        }
      });
      if (env === undefined && setsidProgram(DENO) !== undefined) {
        // Through setsid, the error is ours, made before anything starts;
        // worded as the runtime's, so callers' messages stay the same.
        assert.throws(
          () => launchSupervisor([join(dir, "missing")], store, job),
          Deno.errors.NotFound,
        );
        assert.throws(
          () => launchSupervisor([plain], store, job),
          Deno.errors.PermissionDenied,
        );
        assert.throws(
          () => launchSupervisor([badShebang], store, job),
          Error,
          "bad interpreter /no/such/sh",
        );
      }
    });
  });

  Deno.test(`spawn() ${way}: a supervisor that cannot run fails the spawn, and leaves no job`, async () => {
    await withTempDir(async (dir) => {
      const plain = join(dir, "plain-binary");
      await Deno.writeTextFile(plain, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
      const badShebang = join(dir, "bad-shebang-binary");
      await Deno.writeTextFile(badShebang, "#!/no/such/sh\nexit 0\n", {
        mode: 0o755,
      });
      const cases: [string, RegExp][] = [
        [join(dir, "missing-binary"), /not found/],
        [plain, /permission denied/],
        [dir, /permission denied|is a directory/],
        [badShebang, /bad interpreter|not found/],
      ];
      await withSetsidEnv(env, async () => {
        for (const [binary, why] of cases) {
          _setRuntimeForTesting({
            standalone: true,
            execPath: binary,
            mainModule: "file:///nowhere.ts",
            permissionFlags: [],
          });
          const jobs = join(dir, "jobs");
          try {
            const err = await spawn({ subcommand: "echo", store: jobs }).then(
              () => undefined,
              (e) => e,
            );
            assert.ok(err instanceof SpawnError, `${binary}: ${err}`);
            assert.match(
              err.message,
              new RegExp(`^Cannot start the supervisor ${binary}: `),
            );
            assert.match(err.message, why);
            // Taken back: no record of a job that never ran.
            assert.deepEqual(namesIn(jobs), [], binary);
          } finally {
            _setRuntimeForTesting(undefined);
          }
        }
      });
    });
  });
}
