// The file perl runs the shim from: written once into the store's local
// directory, under a name made from its text, so a new version never
// replaces one that jobs run.

import { SHIM_SOURCE } from "./shim.ts";

/** The shim's file name: `.shim-<hash of its text>.pl`. */
export const SHIM_NAME: string = `.shim-${fnv1a(SHIM_SOURCE)}.pl`;

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** Shim files known to hold this text, by path: looked at once a process. */
const written = new Set<string>();

/**
 * The shim's file in `dir` (the store's local directory), written there
 * (mode 0600, a temp file renamed in) unless it holds this text already.
 *
 * @returns Its path.
 */
export function shimFile(dir: string): string {
  const path = `${dir}/${SHIM_NAME}`;
  if (written.has(path)) return path;
  try {
    if (Deno.readTextFileSync(path) === SHIM_SOURCE) {
      written.add(path);
      return path;
    }
  } catch {
    // Not there yet.
  }
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  Deno.writeTextFileSync(temp, SHIM_SOURCE, { createNew: true, mode: 0o600 });
  try {
    Deno.renameSync(temp, path);
  } catch (err) {
    Deno.removeSync(temp);
    throw err;
  }
  written.add(path);
  return path;
}
