// What the store's tests share (jobs_test.ts, _record_test.ts,
// _liveness_test.ts, _job_id_test.ts): a store in a temp dir, `deno run`
// children that use the store, and records and IDs to feed it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { FileJobStore, InvalidJobIdError } from "../jobs.ts";

const JOBS_URL = new URL("../jobs.ts", import.meta.url).href;
const JOB_ID_URL = new URL("../store/job_id.ts", import.meta.url).href;

export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;

/** Runs `fn` with a store over `<tmp>/jobs`; `tmp` is removed afterwards. */
export async function withStore(
  fn: (store: FileJobStore, tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "detach_" });
  try {
    await fn(new FileJobStore(join(tmp, "jobs")), tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Writes a script that can use the store, for `deno run`. */
export async function writeScript(
  dir: string,
  name: string,
  body: string,
): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(
    path,
    `import { FileJobStore } from ${JSON.stringify(JOBS_URL)};\n` +
      `import { newJobId } from ${JSON.stringify(JOB_ID_URL)};\n` +
      `void FileJobStore; void newJobId;\n` +
      `const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));\n` +
      `void sleep;\n` +
      body,
  );
  return path;
}

/** A `deno run` child whose stdout is read as text. */
export interface Child {
  process: Deno.ChildProcess;
  reader: ReadableStreamDefaultReader<string>;
  out: string;
}

export function spawnScript(script: string, args: string[]): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script, ...args],
    stdin: "null",
    stdout: "piped",
    // Shown in the test output if a child fails.
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  return { process, reader, out: "" };
}

/** Reads the child's stdout until it contains `text`. */
export async function waitFor(child: Child, text: string): Promise<void> {
  while (!child.out.includes(text)) {
    const { value, done } = await child.reader.read();
    if (done) {
      throw new Error(`Child ended before printing ${text}: ${child.out}`);
    }
    child.out += value;
  }
}

/** Reads the rest of the child's stdout and checks it exited with 0. */
export async function finish(child: Child): Promise<string> {
  while (true) {
    const { value, done } = await child.reader.read();
    if (done) break;
    child.out += value;
  }
  const status = await child.process.status;
  assert.equal(status.code, 0, `child failed; stdout: ${child.out}`);
  return child.out;
}

/** Kills a child with SIGKILL (if still alive) and reaps it. */
export async function kill(child: Child): Promise<void> {
  try {
    child.process.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  await child.reader.cancel().catch(() => {});
  await child.process.status;
}

const HOLDER = `
const [dir, id] = Deno.args;
const store = new FileJobStore(dir);
await store.hold(id);
console.log("ready");
setInterval(() => {}, 1 << 30);
`;

/** Starts a process that holds the job's liveness lock, like a supervisor. */
export async function startHolder(
  tmp: string,
  store: FileJobStore,
  id: string,
): Promise<Child> {
  const script = await writeScript(tmp, "holder.ts", HOLDER);
  const child = spawnScript(script, [store.dir, id]);
  try {
    await waitFor(child, "ready");
  } catch (err) {
    await kill(child);
    throw err;
  }
  return child;
}

/** Moves a job's times back by `ms`. */
export async function backdate(
  store: FileJobStore,
  id: string,
  ms: number,
) {
  await store.update(id, (job) => {
    job.startedAt = new Date(job.startedAt.getTime() - ms);
    if (job.completedAt) {
      job.completedAt = new Date(job.completedAt.getTime() - ms);
    }
    if (job.supervisedAt) {
      job.supervisedAt = new Date(job.supervisedAt.getTime() - ms);
    }
    return job;
  });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

export async function readRaw(store: FileJobStore, id: string) {
  return JSON.parse(await Deno.readTextFile(store.recordPath(id)));
}

/** A minimal valid record, as epack's Go CLI would write it. */
export function epackRecord(id: string, extra: Record<string, unknown> = {}) {
  return JSON.stringify(
    {
      id,
      command: "pull",
      args: null,
      status: "completed",
      pid: 42,
      started_at: "2024-01-01T12:00:00.123456789-07:00",
      completed_at: "2024-01-01T12:00:05Z",
      exit_code: 0,
      log_path: `/tmp/${id}.log`,
      ...extra,
    },
    null,
    2,
  );
}

export const HOSTILE_IDS: [string, string][] = [
  ["../x", "only letters, digits and underscores are allowed"],
  ["/etc/passwd", "only letters, digits and underscores are allowed"],
  ["a/b", "only letters, digits and underscores are allowed"],
  ["a\\b", "only letters, digits and underscores are allowed"],
  ["a\0b", "only letters, digits and underscores are allowed"],
  ["", "empty"],
  ["a".repeat(65), "longer than 64 characters"],
  ["..", "only letters, digits and underscores are allowed"],
  [".", "only letters, digits and underscores are allowed"],
  [" x", "only letters, digits and underscores are allowed"],
  ["x\n", "only letters, digits and underscores are allowed"],
  ["x.json", "only letters, digits and underscores are allowed"],
  ["job-1", "only letters, digits and underscores are allowed"],
  ["é", "only letters, digits and underscores are allowed"],
];

export function isInvalidId(id: string, reason: string) {
  return (err: unknown) => {
    assert.ok(err instanceof InvalidJobIdError, String(err));
    assert.equal(err.id, id);
    assert.equal(err.name, "InvalidJobIdError");
    assert.equal(
      err.message,
      `Invalid job ID ${JSON.stringify(id)}: ${reason}`,
    );
    return true;
  };
}
