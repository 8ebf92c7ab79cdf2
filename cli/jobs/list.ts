// `epack jobs [list]`: the table of jobs (those not ended by default). Bare
// `jobs` also takes `--clean` (as `jobs clean`) and a job ID (as `jobs show`).

import {
  type InvalidJobFile,
  isFinalStatus,
  type Job,
  JOB_STATUSES,
  type JobStatus,
} from "../../jobs.ts";
import { EXIT, usageError } from "../_errors.ts";
import { colorEnabled, out, safe, terminalWidth, warn } from "../_output.ts";
import { type JobsContext, noArguments } from "./_context.ts";
import { jobJson, renderTable } from "./_render.ts";
import { clean } from "./clean.ts";

/**
 * Runs bare `jobs` and `jobs list`: a list, or a clean with `--clean`, or
 * (bare `jobs` only) a job's details.
 */
export async function jobs(ctx: JobsContext): Promise<number> {
  const { values, command } = ctx;
  const listing = values.all === true || values.status !== undefined;
  if (values.clean === true) {
    if (listing || ctx.positionals.length > 0) {
      throw usageError(
        "--clean cannot be combined with --all, --status or a job ID",
        command,
      );
    }
    return await clean(ctx);
  }
  if (values["older-than"] !== undefined) {
    throw usageError("--older-than goes with --clean", command);
  }
  if (ctx.positionals.length > 0 && command === "jobs") {
    if (listing) {
      throw usageError(
        "--all and --status list jobs; they cannot be used with a job ID",
        command,
      );
    }
    return await (await import("./show.ts")).show(ctx);
  }
  return await list(ctx);
}

/** Runs `jobs list`. */
export async function list(ctx: JobsContext): Promise<number> {
  noArguments(ctx);
  const given = ctx.values.status;
  if (
    typeof given === "string" &&
    !(JOB_STATUSES as readonly string[]).includes(given)
  ) {
    throw usageError(
      `Invalid --status ${JSON.stringify(given)}: use one of ${
        JOB_STATUSES.join(", ")
      }`,
      ctx.command,
    );
  }
  // Without --all or --status: the jobs that have not ended (waiting,
  // queued, running, paused).
  const status = given as JobStatus | undefined;
  const unended = status === undefined && ctx.values.all !== true;
  if (ctx.json) return await listJson(ctx, status, unended);
  const listed = await ctx.store.list(status ? { status } : {});
  const { invalid } = listed;
  const jobs = unended
    ? listed.jobs.filter((job) => !isFinalStatus(job.status))
    : listed.jobs;
  const now = Date.now();
  for (const bad of invalid) {
    await warn(
      `warning: skipping invalid job file ${safe(bad.id)}: ${safe(bad.reason)}`,
    );
  }
  if (jobs.length === 0) {
    if (unended) {
      await out("No running jobs.\nUse --all to show jobs that have ended.\n");
    } else if (status !== undefined) {
      await out(`No ${status} jobs.\n`);
    } else {
      await out("No jobs.\n");
    }
    return EXIT.OK;
  }
  const color = colorEnabled(Deno.stdout);
  await out(renderTable(jobs, { now, color, width: terminalWidth() }));
  return EXIT.OK;
}

/**
 * `jobs list --json`: `{"jobs": [...], "invalid": [...]}`, indented as
 * JSON.stringify(document, null, 2) would, but made and written a job at a
 * time, in chunks of about a MiB: the whole document, its objects and its
 * bytes are never in memory at once (100,000 jobs made a heap of several
 * hundred MiB). Warnings go in the document only: a --json reader gets one
 * complete answer on stdout.
 */
async function listJson(
  ctx: JobsContext,
  status: JobStatus | undefined,
  unended: boolean,
): Promise<number> {
  const now = Date.now();
  const options = status ? { status } : {};
  const chunks = new Chunks();
  let first = true;
  const put = (text: string | Uint8Array) => {
    chunks.add(first ? ITEM_HEAD : ",\n");
    chunks.add(text);
    first = false;
    chunks.flushIfFull();
  };
  const wants = (s: JobStatus) =>
    (status === undefined || s === status) && !(unended && isFinalStatus(s));
  const emit = (job: Job) => {
    if (wants(job.status)) put(itemText(job, now));
  };
  const listed = await ctx.store.list(options);
  for (const job of listed.jobs) emit(job);
  const invalid = listed.invalid;
  chunks.add(first ? '{\n  "jobs": [],\n' : "\n  ],\n");
  const tail = JSON.stringify(
    { invalid: invalid.map((bad: InvalidJobFile) => ({ ...bad })) },
    null,
    2,
  );
  chunks.add(tail.slice("{\n".length) + "\n");
  chunks.flush();
  return EXIT.OK;
}

/**
 * A job as an item of the document: stringified at its depth, so that
 * JSON.stringify does the indenting, with the text around the item cut off.
 * `now` only counts for a job that has not ended.
 */
function itemText(job: Job, now: number): string {
  const item = JSON.stringify({ jobs: [jobJson(job, now)] }, null, 2);
  return item.slice(ITEM_HEAD.length, -ITEM_TAIL.length);
}

/** What JSON.stringify({ jobs: [item] }, null, 2) puts around the item. */
const ITEM_HEAD = '{\n  "jobs": [\n';
const ITEM_TAIL = "\n  ]\n}";

/**
 * Text gathered into writes of about CHUNK bytes on stdout, written
 * synchronously: an asynchronous write is a trip through Deno's thread pool,
 * and nothing else runs meanwhile. A reader that went away throws
 * BrokenPipe, which the CLI takes as success.
 */
class Chunks {
  static readonly CHUNK = 1 << 20;
  #buffer = new Uint8Array(Chunks.CHUNK);
  #length = 0;
  #encoder = new TextEncoder();

  add(text: string | Uint8Array): void {
    if (typeof text === "string") {
      // Encoded in place when it surely fits (3 bytes at most a UTF-16 unit).
      if (this.#length + text.length * 3 > Chunks.CHUNK) this.flush();
      if (text.length * 3 > Chunks.CHUNK) {
        this.#write(this.#encoder.encode(text));
        return;
      }
      this.#length += this.#encoder.encodeInto(
        text,
        this.#buffer.subarray(this.#length),
      ).written;
      return;
    }
    if (this.#length + text.length > Chunks.CHUNK) this.flush();
    if (text.length > Chunks.CHUNK) {
      this.#write(text);
      return;
    }
    this.#buffer.set(text, this.#length);
    this.#length += text.length;
  }

  flushIfFull(): void {
    if (this.#length >= Chunks.CHUNK / 2) this.flush();
  }

  flush(): void {
    this.#write(this.#buffer.subarray(0, this.#length));
    this.#length = 0;
  }

  #write(bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length;) {
      done += Deno.stdout.writeSync(bytes.subarray(done));
    }
  }
}
