// The CLI's flag parser. node:util's parseArgs refuses, in strict mode, an
// option value that starts with "-" ("argument is ambiguous"), and it does
// not read `--verify=false`. buildPullFlags emits values verbatim (an output
// path may well start with "-"), and a detached pull must parse back exactly
// the options it was built from, so this parser takes the next argument as
// the value of a string flag whatever it looks like, as Go's pflag does.

import { usageError } from "./_cli_util.ts";

/** How one flag is spelled and what it takes. */
export interface FlagSpec {
  /** `string` takes a value; `boolean` does not (but reads `--x=false`). */
  type: "string" | "boolean";
  /** A one-letter alias, without the dash. */
  short?: string;
}

/** The flags a command knows, by long name (without dashes). */
export type FlagSpecs = Record<string, FlagSpec>;

/** What {@linkcode parseFlags} returns. */
export interface ParsedFlags {
  /** The flags given, by long name; a repeated flag keeps its last value. */
  values: Record<string, string | boolean>;
  /** Positional arguments, in order, including those after `--`. */
  positionals: string[];
  /** Whether a `--` was seen. */
  terminated: boolean;
}

/** Options for {@linkcode parseFlags}. */
export interface ParseFlagsOptions {
  /** The command, for the usage hint of errors (`pull`, `jobs logs`). */
  command: string;
  /**
   * Stop reading flags at the first positional argument: it and everything
   * after it are positional (for `run`, whose program has flags of its own).
   * @default {false}
   */
  stopAtPositional?: boolean;
}

/**
 * Parses command-line arguments against the flags a command knows.
 *
 * Accepts `--name value`, `--name=value`, `-n value`, `-nvalue`, `-n=value`,
 * clusters of short booleans (`-fd`), `--no-name` and `--name=true|false`
 * for booleans, and `--` to end the flags. Flags and positionals may mix.
 *
 * @param args The arguments after the command's name.
 * @param specs The flags the command knows.
 * @param options The command's name, and whether to stop at a positional.
 * @returns The flags and the positionals.
 * @throws {CliError} A usage error for an unknown flag, a missing value, or
 * a boolean given something other than `true` or `false`.
 */
export function parseFlags(
  args: readonly string[],
  specs: FlagSpecs,
  options: ParseFlagsOptions,
): ParsedFlags {
  const { command } = options;
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.short !== undefined) byShort.set(spec.short, name);
  }
  const fail = (message: string): never => {
    throw usageError(message, command);
  };
  const known = (name: string): FlagSpec | undefined =>
    Object.hasOwn(specs, name) ? specs[name] : undefined;

  let i = 0;
  const takeValue = (flag: string): string => {
    if (i + 1 >= args.length) fail(`${flag} needs a value`);
    i++;
    return args[i];
  };

  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      return { values, positionals, terminated: true };
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const spec = known(name);
      if (spec?.type === "string") {
        values[name] = inline ?? takeValue(`--${name}`);
      } else if (spec?.type === "boolean") {
        values[name] = inline === undefined
          ? true
          : readBoolean(`--${name}`, inline, fail);
      } else if (
        name.startsWith("no-") && known(name.slice(3))?.type === "boolean"
      ) {
        if (inline !== undefined) fail(`--${name} does not take a value`);
        values[name.slice(3)] = false;
      } else {
        fail(`Unknown flag: --${name}`);
      }
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") {
      // A cluster of short flags; a string flag takes the rest as its value.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        const name = byShort.get(letter);
        if (name === undefined) {
          fail(
            arg.length > 2
              ? `Unknown flag: -${letter} (in ${arg})`
              : `Unknown flag: -${letter}`,
          );
        }
        if (specs[name!].type === "boolean") {
          values[name!] = true;
          continue;
        }
        let rest = arg.slice(j + 1);
        if (rest.startsWith("=")) rest = rest.slice(1);
        values[name!] = rest !== "" ? rest : takeValue(`-${letter}`);
        break;
      }
      continue;
    }
    positionals.push(arg);
    if (options.stopAtPositional) {
      positionals.push(...args.slice(i + 1));
      return { values, positionals, terminated: false };
    }
  }
  return { values, positionals, terminated: false };
}

function readBoolean(
  flag: string,
  text: string,
  fail: (message: string) => never,
): boolean {
  switch (text.toLowerCase()) {
    case "true":
    case "1":
      return true;
    case "false":
    case "0":
      return false;
  }
  return fail(`${flag} takes true or false, not ${JSON.stringify(text)}`);
}
