// The rules for a job's progress and result, in one place: report.ts checks
// what a worker reports by them (a RangeError or TypeError), and _record.ts
// checks what it reads by them (an InvalidJobFileError), so the store never
// holds a value one side would refuse.

/** The longest `unit`, in characters. */
export const MAX_UNIT_LENGTH = 32;
/** The longest `message`, in characters. */
export const MAX_MESSAGE_LENGTH = 200;
/** The largest `result`, in bytes of UTF-8 JSON. */
export const MAX_RESULT_BYTES = 64 * 1024;

/**
 * A count typed on a command line (`jobs report --done`): decimal digits
 * only, so that `0x10`, `1e3` or ` 5` are refused, not read as 16, 1000, 5.
 *
 * @returns The number, or `undefined` if the text is not one.
 */
export function parseCount(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** What is wrong with a value, and whether it is its type or its range. */
export interface Problem {
  reason: string;
  kind: "type" | "range";
}

// C0 controls, DEL and C1 controls: a terminal acts on them, and a record
// shown by `jobs` must not.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function count(
  name: string,
  value: unknown,
  required: boolean,
): Problem | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== "number") {
    return { reason: `"${name}" is not a number`, kind: "type" };
  }
  if (!Number.isFinite(value) || value < 0) {
    return {
      reason: `"${name}" must be a finite number, 0 or more (${value})`,
      kind: "range",
    };
  }
  return undefined;
}

function text(name: string, value: unknown, max: number): Problem | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    return { reason: `"${name}" is not a string`, kind: "type" };
  }
  const control = CONTROL.exec(value);
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase();
    return {
      reason: `"${name}" holds a control character (U+${
        code.padStart(4, "0")
      })`,
      kind: "range",
    };
  }
  // Characters, not UTF-16 units; counted only when it could matter.
  if (value.length > max && [...value].length > max) {
    return {
      reason: `"${name}" is longer than ${max} characters (${
        [...value].length
      })`,
      kind: "range",
    };
  }
  return undefined;
}

/**
 * Checks the reported fields of a progress value (all but its time).
 *
 * @param p The value, of any type.
 * @returns The first problem, or `undefined` if it is valid.
 */
export function progressProblem(p: unknown): Problem | undefined {
  if (typeof p !== "object" || p === null || Array.isArray(p)) {
    return { reason: "progress is not an object", kind: "type" };
  }
  const { done, total, unit, message } = p as Record<string, unknown>;
  const problem = count("done", done, true) ?? count("total", total, false) ??
    text("unit", unit, MAX_UNIT_LENGTH) ??
    text("message", message, MAX_MESSAGE_LENGTH);
  if (problem !== undefined) return problem;
  // An estimate that turned out low is the worker's to correct: a record
  // whose readers may compute done/total must never show more than 100 %.
  if (total !== undefined && (done as number) > (total as number)) {
    return {
      reason: `"done" (${done}) is more than "total" (${total})`,
      kind: "range",
    };
  }
  return undefined;
}

/**
 * The deepest a `result` may nest, in objects and arrays, itself counted:
 * deeper JSON makes writers and readers overflow their stacks (the record
 * is written indented; Go's encoding/json refuses past 10,000), so it is
 * refused where it is reported, with a reason.
 */
export const MAX_RESULT_DEPTH = 100;

/**
 * Checks how deep a JSON value nests, without recursion (the value may be
 * deeper than the stack).
 *
 * @param value A value as JSON.parse made it.
 * @returns The problem, or `undefined` if it is within
 * {@linkcode MAX_RESULT_DEPTH}.
 */
export function resultDepthProblem(value: unknown): Problem | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_RESULT_DEPTH) {
      return {
        reason: `nested more than ${MAX_RESULT_DEPTH} levels deep`,
        kind: "range",
      };
    }
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return undefined;
}
