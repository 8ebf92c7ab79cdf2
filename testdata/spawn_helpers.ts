// Helpers shared by the end-to-end tests of spawn(), cancel(), the watch and
// the stop policy: they start real jobs through testdata/spawner.ts, a real
// `deno run` that spawns and exits.

import type { SpawnOptions } from "../mod.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type Job, waitForJob } from "../mod.ts";
import { isEnded, readProcess } from "../process/inspect.ts";

export { until } from "./poll.ts";

/** The fixture program that spawns jobs from JSON options. */
export const SPAWNER: string = fileURLToPath(
  new URL("./spawner.ts", import.meta.url),
);
/** The deno binary running the tests. */
export const DENO: string = Deno.execPath();

/** What the fixture prints for a job it spawned. */
export interface Spawned {
  jobId: string;
  pid: number;
  logPath: string;
  argv: string[];
}

/** Runs the fixture, which spawns one job and exits; returns its output. */
export async function spawnJob(
  options: SpawnOptions | SpawnOptions[],
  denoFlags: string[] = ["-A"],
): Promise<{ code: number; result?: Spawned; stderr: string; ms: number }> {
  const started = performance.now();
  const out = await new Deno.Command(DENO, {
    args: ["run", ...denoFlags, SPAWNER, JSON.stringify(options)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr);
  return {
    code: out.code,
    result: out.code === 0 ? JSON.parse(stdout) : undefined,
    stderr,
    ms,
  };
}

/** spawnJob(), which must succeed. */
export async function mustSpawn(
  options: SpawnOptions,
  denoFlags?: string[],
): Promise<Spawned> {
  const r = await spawnJob(options, denoFlags);
  assert.equal(r.code, 0, `spawner failed: ${r.stderr}`);
  return r.result!;
}

/**
 * A shell command that returns once `file` exists (or after `maxSeconds`):
 * a worker that holds until the test says so, instead of running for a
 * time guessed to outlast the test's next steps. Open it with
 * `Deno.writeTextFile(file, "")`.
 */
export function gateCommand(file: string, maxSeconds = 30): string {
  return `i=0; while [ ! -e '${file}' ] && [ $i -lt ${maxSeconds * 20} ]; ` +
    `do sleep 0.05; i=$((i+1)); done`;
}

/** Whether a process exists and is not a zombie. */
export function alive(pid: number): boolean {
  const p = readProcess(pid);
  return p !== undefined && !isEnded(p);
}

/** The job's final record, waited for up to 30 s. */
export async function finalJob(dir: string, id: string): Promise<Job> {
  return await waitForJob(id, { store: dir, timeout: 30_000 });
}
