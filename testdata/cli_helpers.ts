// Helpers for the CLI's tests: run the real CLI as a subprocess, build small
// registries on disk, and serve them over HTTP on 127.0.0.1.

import { findExecutable } from "../spawn/which.ts";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { FileJobStore, isFinalStatus, type Job } from "../jobs.ts";
import type { JobStore } from "../store.ts";
import { fileURLToPath } from "node:url";
import { until as poll } from "./poll.ts";

/** The CLI's entry module, absolute. */
export const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));

/**
 * How the CLI's hints must name it when it runs as `deno run -A <MOD>`:
 * `deno run -A` and mod.ts's absolute path, from any `cwd`.
 */
export function selfInvocation(_cwd?: string): string {
  return `${denoWord()} run -A ${MOD}`;
}

/**
 * How a hint names the Deno that runs the tests: `deno` when that name on
 * PATH finds this very binary, else its path (CI runs the suite a second
 * time with an older Deno through npx, which `deno` does not name).
 */
function denoWord(): string {
  const found = findExecutable("deno", {
    cwd: Deno.cwd(),
    path: Deno.env.get("PATH") ?? "",
  });
  const same = found.ok &&
    Deno.realPathSync(found.path) === Deno.realPathSync(Deno.execPath());
  return same ? "deno" : Deno.execPath();
}

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode cli}. */
export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Deno's permission flags, in place of `-A`. */
  permissions?: string[];
}

/** Runs `deno run -A mod.ts ...args` and collects its output. */
export async function cli(
  args: string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const permissions = options.permissions ?? ["-A"];
  return await collect(Deno.execPath(), ["run", ...permissions, MOD, ...args], {
    cwd: options.cwd,
    env: { NO_COLOR: "", ...options.env },
  });
}

/** Asserts the CLI failed with one error line (plus any detail lines). */
export function assertOneLineError(
  r: { code: number; stderr: string },
  code: number,
  pattern: RegExp,
): void {
  if (r.code !== code) {
    throw new Error(`exit code ${r.code}, not ${code}; stderr: ${r.stderr}`);
  }
  const first = lines(r.stderr).find((l) => l.startsWith("error: "));
  if (first === undefined) throw new Error(`no error line in: ${r.stderr}`);
  if (!pattern.test(first)) throw new Error(`${first} !~ ${pattern}`);
  if (/^\s+at /m.test(r.stderr)) throw new Error(`stack trace: ${r.stderr}`);
}

/** Runs a program with no input and collects its output. */
async function collect(
  program: string,
  args: string[],
  options: CliOptions,
): Promise<CliResult> {
  const out = await new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Runs `fn` with a fresh temp dir (prefix `detach_`), removed afterwards. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_" });
  try {
    await fn(dir);
  } finally {
    await removeDir(dir);
  }
}

/**
 * Removes a directory and everything in it. A job's end is seen (in its
 * journal) before its finisher has written the record, so a finisher may
 * still write there for a moment: removed again until it is gone.
 */
export async function removeDir(dir: string): Promise<void> {
  for (let tries = 1;; tries++) {
    try {
      return await Deno.remove(dir, { recursive: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      if (tries >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Runs the commands a `--detach` run printed as hints ("Status:" and
 * "Follow:"), verbatim, through `sh -c` in `cwd`, as a user pasting them.
 */
export async function pasteHints(
  stdout: string,
  cwd: string = Deno.cwd(),
): Promise<{ status: CliResult; follow: CliResult }> {
  const hint = (label: string) => {
    const line = new RegExp(`^  ${label}: +(.*)$`, "m").exec(stdout)?.[1];
    if (line === undefined) throw new Error(`No ${label} hint in: ${stdout}`);
    return line;
  };
  const paste = (line: string) =>
    collect("sh", ["-c", line], { cwd, env: { NO_COLOR: "1" } });
  return {
    status: await paste(hint("Status")),
    follow: await paste(hint("Follow")),
  };
}

/**
 * The processes of a process group that still run: zombies left out, since
 * PID 1 here never reaps orphans and a zombie runs nothing. Asks `ps`, as a
 * user would.
 */
export async function liveInGroup(pgid: number): Promise<string[]> {
  const out = await new Deno.Command("ps", {
    args: ["-eo", "pid=,pgid=,stat=,args="],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((line) => {
    const [, group, stat] = line.trim().split(/\s+/);
    return Number(group) === pgid && stat !== undefined &&
      !stat.startsWith("Z");
  });
}

/** Whether a process runs (a zombie does not), asking `ps`. */
export async function runs(pid: number): Promise<boolean> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
  }).output();
  const stat = new TextDecoder().decode(out.stdout).trim();
  return stat !== "" && !stat.startsWith("Z");
}

/**
 * Whether a process has an inotify instance open: a file store's watch of
 * a job (Deno.watchFs) is under way in it. Linux.
 */
export async function watchesFiles(pid: number): Promise<boolean> {
  try {
    for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
      const target = await Deno.readLink(`/proc/${pid}/fd/${fd.name}`)
        .catch(() => "");
      if (target === "anon_inode:inotify") return true;
    }
  } catch {
    // The process has gone.
  }
  return false;
}

/** Polls until a file holds text; returns it. */
export async function readWhenWritten(
  path: string,
  ms = 15_000,
): Promise<string> {
  return await poll(`${path} to be written`, async () => {
    const text = (await Deno.readTextFile(path).catch(() => "")).trim();
    return text !== "" ? text : undefined;
  }, ms);
}

/** The non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

/** sha256 of bytes, as `sha256:<hex>`. */
export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** One pack of a test registry. */
export interface TestPack {
  name: string;
  version: string;
  environment?: string;
  workspace?: string;
  release?: string;
  published_at: string;
  /** The bytes; a small text by default. */
  content?: string | Uint8Array;
  /** Written to the index instead of the real path. */
  path?: string;
  /** Written to the index instead of the real digest. */
  digest?: string;
  /** Written to the index instead of the real size; `null` leaves it out. */
  size?: number | null;
}

/** Writes packs and an index.json into a directory; returns the index. */
export async function writeRegistry(
  dir: string,
  packs: TestPack[],
): Promise<Record<string, unknown>[]> {
  await Deno.mkdir(join(dir, "packs"), { recursive: true });
  const entries = [];
  for (const p of packs) {
    const content = p.content ??
      `pack ${p.name} ${p.version} ${p.environment ?? ""} ${p.release ?? ""}\n`;
    const bytes = typeof content === "string"
      ? new TextEncoder().encode(content)
      : content;
    const file = `packs/${p.name}-${p.version}-${p.environment ?? "any"}-${
      p.release ?? "x"
    }.epack`;
    await Deno.mkdir(join(dir, dirname(file)), { recursive: true });
    await Deno.writeFile(join(dir, file), bytes);
    const entry: Record<string, unknown> = {
      name: p.name,
      workspace: p.workspace ?? "",
      environment: p.environment ?? "",
      version: p.version,
      release: p.release ?? "",
      digest: p.digest ?? sha256(bytes),
      path: p.path ?? file,
      published_at: p.published_at,
    };
    if (p.size !== null) entry.size = p.size ?? bytes.length;
    entries.push(entry);
  }
  await Deno.writeTextFile(
    join(dir, "index.json"),
    JSON.stringify({ packs: entries }, null, 2),
  );
  return entries;
}

/** A static file server over a directory, on 127.0.0.1. */
export interface TestServer extends AsyncDisposable {
  /** The server's base URL, ending in `/`. */
  url: string;
  /** The paths requested so far. */
  requests: string[];
  /** Stops the server. */
  close(): Promise<void>;
}

/** Serves a directory's files; `routes` answer some paths instead. */
export function serveDir(
  root: string,
  routes: Record<string, (req: Request) => Response | Promise<Response>> = {},
): TestServer {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requests.push(path);
      if (Object.hasOwn(routes, path)) return await routes[path](req);
      try {
        return new Response(await Deno.readFile(join(root, path)));
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  const close = async () => {
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A raw HTTP server that, for every request but those of `files`, sends a
 * 200 with a Content-Length of `total`, then only the first `sent` bytes,
 * then closes the connection (or, with `stall`, keeps it open and silent
 * until closed).
 */
export function serveTruncated(
  total: number,
  sent: number,
  options: { stall?: boolean; files?: Record<string, string> } = {},
): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const handler = (async () => {
        try {
          const buf = new Uint8Array(8192);
          const n = await conn.read(buf);
          const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
          const path = head.split(" ")[1] ?? "";
          requests.push(path);
          const file = options.files?.[path];
          if (file !== undefined) {
            const bytes = new TextEncoder().encode(file);
            await writeAll(
              conn,
              new TextEncoder().encode(
                `HTTP/1.1 200 OK\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`,
              ),
            );
            await writeAll(conn, bytes);
            return;
          }
          const body = new Uint8Array(sent).fill(0x61);
          await writeAll(
            conn,
            new TextEncoder().encode(
              `HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`,
            ),
          );
          await writeAll(conn, body);
          if (options.stall) {
            // Wait until the client goes away or the server closes.
            await conn.read(buf).catch(() => null);
          }
        } catch {
          // The client went away.
        } finally {
          if (conns.delete(conn)) conn.close();
        }
      })();
      handlers.add(handler);
      handler.finally(() => handlers.delete(handler));
    }
  })();
  const close = async () => {
    listener.close();
    for (const conn of conns) conn.close();
    conns.clear();
    await loop.catch(() => {});
    await Promise.all(handlers);
  };
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Names in a directory, sorted. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** Polls a job's record until its status is final, or fails after `ms`. */
export async function waitForRecord(
  jobsDir: string,
  id: string,
  ms = 30_000,
): Promise<Record<string, unknown>> {
  return await poll(
    `job ${id} to finish`,
    async () => {
      try {
        const record = JSON.parse(
          await Deno.readTextFile(join(jobsDir, `${id}.json`)),
        );
        return record.status !== "running" ? record : undefined;
      } catch (err) {
        if (
          !(err instanceof Deno.errors.NotFound || err instanceof SyntaxError)
        ) {
          throw err;
        }
      }
    },
    ms,
    50,
  );
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let n = 0; n < data.length;) n += await conn.write(data.subarray(n));
}

// --- `epack jobs` ------------------------------------------------------------

export const SPAWNER = fileURLToPath(new URL("./spawner.ts", import.meta.url));
/** `epack jobs`, the real CLI, as users run it from source. */
export const ENTRY = ["run", "-A", MOD, "jobs"];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `epack jobs <args> --jobs-dir <dir>`. */
export async function jobs(dir: string, ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...ENTRY, ...args, "--jobs-dir", dir],
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

export interface Spawned {
  jobId: string;
  pid: number;
  logPath: string;
}

/** Starts a real job of an external command through the fixture. */
export async function spawnJob(
  dir: string,
  command: string,
  args: string[],
  extra: Record<string, unknown> = {},
): Promise<Spawned> {
  const options = { command, args, store: dir, ...extra };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SPAWNER, JSON.stringify(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

/** Polls the record (the test's own clock, not the code under test's). */
export async function until(
  dir: string,
  id: string,
  done: (job: Job) => boolean,
  ms = 15_000,
): Promise<Job> {
  const store = new FileJobStore(dir);
  let status = "";
  return await poll(() => `job ${id} (still ${status})`, async () => {
    const job = await store.load(id);
    status = job.status;
    return done(job) ? job : undefined;
  }, ms);
}

export const ended = (job: Job) => isFinalStatus(job.status);

/**
 * Waits until a job has ended and its supervisor has exited: nothing of it
 * writes in its jobs dir any more, and the test may remove the dir.
 */
export async function settled(dir: string, id: string): Promise<Job> {
  const job = await until(dir, id, ended);
  await poll(`the supervisor of ${id} to exit`, () => gone(job.pid), 15_000);
  return job;
}

/** Whether a process has exited (a zombie counts: it runs nothing). */
export function gone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
  } catch {
    return true;
  }
}

/** Stops a job the test left running, whatever state it is in. */
export async function stopJob(dir: string, id: string): Promise<void> {
  const job = await new FileJobStore(dir).loadRecorded(id).catch(() =>
    undefined
  );
  for (const pid of [job?.pid, job?.workerPid]) {
    if (pid === undefined || pid <= 1) continue;
    for (const target of [-pid, pid]) {
      try {
        Deno.kill(target, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

export function assert(
  cond: unknown,
  message = "assertion failed",
): asserts cond {
  if (!cond) throw new Error(message);
}

export function assertEquals<T>(actual: T, expected: T, message = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) {
    throw new Error(`${message}\n  actual:   ${a}\n  expected: ${e}`);
  }
}

/** One `error:` line, the usage hint when `hint`, exit 1, nothing else. */
export function assertCliError(
  run: Run,
  hint: string | undefined,
  match?: RegExp,
) {
  const lines = run.stderr.split("\n").filter((l) => l !== "");
  assertEquals(run.code, 1, `exit code (stderr: ${run.stderr})`);
  assertEquals(run.stdout, "", "stdout");
  assert(lines[0].startsWith("error: "), `first line: ${lines[0]}`);
  assert(!/^\s+at /m.test(run.stderr), `stack trace: ${run.stderr}`);
  if (hint === undefined) {
    assertEquals(lines.length, 1, `stderr: ${run.stderr}`);
  } else {
    assertEquals(lines.length, 2, `stderr: ${run.stderr}`);
    assertEquals(
      lines[1],
      `Run '${selfInvocation()} ${hint} --help' for usage.`,
    );
  }
  if (match) assert(match.test(lines[0]), `${lines[0]} !~ ${match}`);
}

export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "detach_cli_jobs_" });
}

/** A finished job written straight into the store, ended `agoMs` ago. */
export async function craftEnded(
  store: JobStore,
  options: { id?: string; agoMs?: number; exitCode?: number } = {},
): Promise<Job> {
  const job = await store.create({
    id: options.id,
    command: "sh",
    args: ["-c", "true"],
  });
  const exitCode = options.exitCode ?? 0;
  await store.finish(job.id, {
    status: exitCode === 0 ? "completed" : "failed",
    exitCode,
  });
  const at = new Date(Date.now() - (options.agoMs ?? 0));
  return await store.update(job.id, (j) => {
    j.startedAt = new Date(at.getTime() - 1000);
    j.completedAt = at;
    return j;
  });
}
