/**
 * Durations as people type them: Go's format (`90s`, `1h30m`, `500ms`),
 * plus `d` for days.
 *
 * @example Parse and format
 * ```ts
 * import { formatDuration, parseDuration } from "@epack/detach/duration";
 *
 * console.log(parseDuration("1h30m")); // 5400000
 * console.log(formatDuration(5_400_000)); // 1h30m
 * ```
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
};

/**
 * The longest duration accepted anywhere: 36,500 days in milliseconds, so
 * that a record holds it exactly and it added to any time is a valid date.
 */
export const MAX_DURATION: number = 36_500 * 24 * 60 * 60 * 1000;

/**
 * Checks a duration in milliseconds where it enters the library: a whole
 * number from 0 to {@linkcode MAX_DURATION}.
 *
 * @param name What the value is, for the message (`"timeout"`).
 * @param ms The value.
 * @returns `ms`, unchanged.
 * @throws {RangeError} If `ms` is not a whole number in range.
 */
export function checkDuration(name: string, ms: number): number {
  if (
    typeof ms !== "number" || !Number.isInteger(ms) || ms < 0 ||
    ms > MAX_DURATION
  ) {
    throw new RangeError(
      `Invalid ${name}: ${
        typeof ms === "number" ? ms : JSON.stringify(ms)
      } (a whole number of milliseconds from 0 to ${MAX_DURATION}, which is ${
        formatDuration(MAX_DURATION)
      })`,
    );
  }
  return ms;
}

/**
 * Parses a duration such as `24h`, `1h30m`, `500ms`, `2d`, `1.5h` or a bare
 * `0` into milliseconds, rounded, but never to zero (that means "none").
 *
 * @param text The duration.
 * @returns Milliseconds, a whole number from 0 to {@linkcode MAX_DURATION}.
 * @throws {RangeError} If the text is not a duration, or is out of range.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "0") return 0;
  const part = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (m === null) break;
    total += Number(m[1]) * UNITS[m[2]];
    at = part.lastIndex;
  }
  if (s.length === 0 || at !== s.length || Number.isNaN(total)) {
    throw new RangeError(
      `Invalid duration: ${
        JSON.stringify(text)
      } (use a form like 90s, 1h30m or 500ms)`,
    );
  }
  if (total > MAX_DURATION) {
    throw new RangeError(
      `Duration too long: ${JSON.stringify(text)} (at most ${
        formatDuration(MAX_DURATION)
      })`,
    );
  }
  const ms = Math.round(total);
  if (ms === 0 && total > 0) {
    throw new RangeError(
      `Duration too short: ${
        JSON.stringify(text)
      } (the smallest is 1ms; 0 means none)`,
    );
  }
  return ms;
}

/**
 * Formats milliseconds the way {@linkcode parseDuration} reads them, with at
 * most the two largest units (`1h30m`, `2d3h`, `45s`, `250ms`).
 *
 * @param ms Milliseconds.
 * @returns The short form.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  // A timeout of 1.5 s should not read as "1s" in an error message.
  if (ms < 60_000 && ms % 1000 !== 0) {
    return `${Number((ms / 1000).toFixed(3))}s`;
  }
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (parts.length > 0 && parts.length < 2)) {
      parts.push(`${n}${unit}`);
    }
    if (parts.length === 2) break;
  }
  // "1h0m" reads worse than "1h".
  return parts.filter((p, i) => i === 0 || !p.startsWith("0")).join("");
}
