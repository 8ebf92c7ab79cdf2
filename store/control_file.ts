// A job's control file, `<id>.ctl` beside its journal `<id>.live`
// (docs/design.md, "The files of a job"): the requests that cancels and
// pauses append for its supervisor to read.

import { openJobFile } from "./journal.ts";

const encoder = new TextEncoder();

/** The control file of a job: `<id>.ctl` beside its `<id>.live`. */
export function controlPath(livePath: string): string {
  return livePath.replace(/\.live$/, ".ctl");
}

/**
 * The requests in a job's control file, one a line: none if there is none.
 *
 * @throws {Deno.errors.InvalidData} If it is not a regular file (see
 * {@linkcode openJobFile}).
 * @throws {RangeError} If it is over 64 KiB (no request makes it so large).
 */
export function readControl(livePath: string): string[] {
  using file = openJobFile(controlPath(livePath));
  if (file === undefined) return [];
  const bytes = new Uint8Array(65_537);
  let got = 0;
  for (let n; got < bytes.length && (n = file.readSync(bytes.subarray(got)));) {
    got += n;
  }
  if (got === bytes.length) {
    throw new RangeError("the control file is over 64 KiB: ignored");
  }
  return new TextDecoder().decode(bytes.subarray(0, got)).split("\n");
}

/**
 * Appends a request to the job's control file (made, mode 0600, if it is
 * not there): `C <grace left in ms>`, `P` or `R`. Read by its supervisor.
 */
export function appendControl(livePath: string, line: string): void {
  using file = openJobFile(controlPath(livePath), {
    append: true,
    create: true,
  })!;
  file.writeSync(encoder.encode(`${line}\n`));
}
