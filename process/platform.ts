// What the library needs of the operating system, checked in one place.
// Jobs rest on POSIX process groups, sessions and signals, and on /bin/sh:
// Linux and macOS have them, Windows has none. Every entry point that would
// start or stop processes calls assertPosix() first, so Windows gets one
// clear refusal before anything is written, rather than a half-made job.

/**
 * Refuses at once on a system without POSIX process groups and signals.
 *
 * @param what What was asked for, for the message (`"spawn()"`, `"jobs cancel"`).
 * @param os The system, `Deno.build.os` unless a test injects another.
 * @throws {Error} On Windows, naming the platform.
 */
export function assertPosix(what: string, os: string = Deno.build.os): void {
  if (os !== "windows") return;
  throw new Error(
    `Unsupported platform: ${what} needs POSIX process groups and signals, which ${os} does not have (Linux and macOS are supported)`,
  );
}
