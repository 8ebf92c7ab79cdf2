// The CLI's one flag parser, and the help text of flags, both from the same
// specs. One grammar for every command: `--x`, `--x=true|false`, `--no-x`,
// `--opt=value`, `--opt value`, `-o value`, `-ovalue`, clusters of short
// booleans (`-fd`), and `--` to end the flags.
//
// node:util's parseArgs refuses, in strict mode, an option value that starts
// with "-" ("argument is ambiguous"), and it does not read `--verify=false`.
// buildPullFlags emits values verbatim (an output path may well start with
// "-"), and a detached pull must parse back exactly the options it was built
// from, so a string flag takes the next argument whatever it looks like, as
// Go's pflag does.

import { usageError } from "./_errors.ts";
import { closest } from "./_suggest.ts";

/** How one flag is spelled, what it takes, and how help shows it. */
export interface FlagSpec {
  /**
   * `string` takes a value, never an empty one; `boolean` does not (but
   * reads `--x=false`).
   */
  type: "string" | "boolean";
  /** A one-letter alias, without the dash. */
  short?: string;
  /** The value's name in help (`D`, `DIR`); string flags only. */
  value?: string;
  /** The help text; a "\n" starts an indented line. No help: not listed. */
  help?: string;
  /** Listed in help as `--no-<name>`: a boolean that is on by default. */
  negated?: boolean;
  /**
   * A string flag that may be given more than once: every value is kept,
   * in order, in {@linkcode ParsedFlags.lists}.
   */
  multiple?: boolean;
}

/** The flags a command knows, by long name (without dashes). */
export type FlagSpecs = Record<string, FlagSpec>;

/** What {@linkcode parseFlags} returns. */
export interface ParsedFlags {
  /** The flags given, by long name; a repeated flag keeps its last value. */
  values: Record<string, string | boolean>;
  /** Positional arguments, in order, including those after `--`. */
  positionals: string[];
  /** Every value of each `multiple` flag given, in order. */
  lists: Record<string, string[]>;
}

/**
 * Options for {@linkcode parseFlags}: the command, for the usage hint of
 * errors (`jobs logs`), and whether flags stop at the first positional
 * argument (for `run`, whose program has flags of its own).
 */
interface ParseFlagsOptions {
  command: string;
  stopAtPositional?: boolean;
}

/** The flags every command takes. */
export const COMMON_FLAGS: FlagSpecs = {
  json: { type: "boolean", help: "Print machine-readable JSON on stdout" },
  "jobs-dir": {
    type: "string",
    value: "DIR",
    help: "The jobs directory (default: .epack/jobs in the project\n" +
      "root, the nearest directory with deno.json; outside any\n" +
      "project, $XDG_STATE_HOME/epack/jobs)",
  },
  store: {
    type: "string",
    value: "URL",
    help: "The job store: a postgres:// URL shared by hosts, or a\n" +
      "jobs directory (default: $EPACK_DETACH_STORE, else --jobs-dir)",
  },
  help: { type: "boolean", short: "h", help: "Show this help" },
};

/**
 * Parses the arguments after a command's name against the flags it knows;
 * a usage error for an unknown flag, a missing value, or a boolean given
 * something other than `true` or `false`.
 */
export function parseFlags(
  args: readonly string[],
  specs: FlagSpecs,
  options: ParseFlagsOptions,
): ParsedFlags {
  const values: Record<string, string | boolean> = {};
  const lists: Record<string, string[]> = {};
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw usageError(message, options.command);
  };
  scan(args, specs, {
    flag(name, value) {
      values[name] = value;
      if (specs[name].multiple && typeof value === "string") {
        (lists[name] ??= []).push(value);
      }
    },
    positional(arg, index) {
      positionals.push(arg);
      if (!options.stopAtPositional) return true;
      positionals.push(...args.slice(index + 1));
      return false;
    },
    rest(after) {
      positionals.push(...after);
    },
    fail,
  });
  return { values, positionals, lists };
}

/**
 * The index of the first positional argument, read with the same grammar
 * (so the value of a string flag is not taken for one); -1 if there is none
 * before `--`. Unknown flags are skipped rather than refused.
 */
export function firstPositional(
  args: readonly string[],
  specs: FlagSpecs,
): number {
  let found = -1;
  scan(args, specs, {
    flag() {},
    positional(_arg, index) {
      found = index;
      return false;
    },
    rest() {},
    fail: () => undefined as never,
    lenient: true,
  });
  return found;
}

interface Visitor {
  flag(name: string, value: string | boolean): void;
  /** Returns whether to go on. */
  positional(arg: string, index: number): boolean;
  rest(after: string[]): void;
  fail(message: string): never;
  lenient?: boolean;
}

function scan(args: readonly string[], specs: FlagSpecs, v: Visitor): void {
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.short !== undefined) byShort.set(spec.short, name);
  }
  const known = (name: string): FlagSpec | undefined =>
    Object.hasOwn(specs, name) ? specs[name] : undefined;
  let i = 0;
  const takeValue = (flag: string): string => {
    if (i + 1 >= args.length) v.fail(`${flag} needs a value`);
    i++;
    return nonEmpty(flag, args[i]);
  };
  // An empty value is refused for every option: `--jobs-dir ""` silently
  // meaning the default (or `--env "$UNSET"` meaning any environment) hides
  // a mistake that the user could not see.
  const nonEmpty = (flag: string, value: string): string => {
    if (value === "" && !v.lenient) {
      v.fail(`${flag} is empty: give it a value, or leave the option out`);
    }
    return value;
  };
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      v.rest(args.slice(i + 1));
      return;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const spec = known(name);
      if (spec?.type === "string") {
        v.flag(
          name,
          inline === undefined
            ? takeValue(`--${name}`)
            : nonEmpty(`--${name}`, inline),
        );
      } else if (spec?.type === "boolean") {
        v.flag(
          name,
          inline === undefined ? true : readBoolean(`--${name}`, inline, v),
        );
      } else if (
        name.startsWith("no-") && known(name.slice(3))?.type === "boolean"
      ) {
        if (inline !== undefined) v.fail(`--${name} does not take a value`);
        v.flag(name.slice(3), false);
      } else if (!v.lenient) {
        const near = closest(name, Object.keys(specs));
        v.fail(
          `Unknown option: --${name}${
            near === undefined ? "" : `; did you mean --${near}?`
          }`,
        );
      }
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") {
      // A cluster of short flags; a string flag takes the rest as its value.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        const name = byShort.get(letter);
        if (name === undefined) {
          if (v.lenient) break;
          v.fail(
            arg.length > 2
              ? `Unknown option: -${letter} (in ${arg})`
              : `Unknown option: -${letter}`,
          );
        }
        if (specs[name!].type === "boolean") {
          v.flag(name!, true);
          continue;
        }
        const rest = arg.slice(j + 1);
        v.flag(
          name!,
          rest.startsWith("=")
            ? nonEmpty(`-${letter}`, rest.slice(1))
            : rest !== ""
            ? rest
            : takeValue(`-${letter}`),
        );
        break;
      }
      continue;
    }
    if (!v.positional(arg, i)) return;
  }
}

function readBoolean(flag: string, text: string, v: Visitor): boolean {
  switch (text.toLowerCase()) {
    case "true":
    case "1":
      return true;
    case "false":
    case "0":
      return false;
  }
  if (v.lenient) return true;
  return v.fail(`${flag} takes true or false, not ${JSON.stringify(text)}`);
}

/**
 * The lines of help that list flags, in their order: `-d, --detach`, then
 * the help text in a column. Flags without help text are left out.
 */
export function formatFlags(specs: FlagSpecs): string {
  const rows: [string, string][] = [];
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.help === undefined) continue;
    const long = spec.negated ? `--no-${name}` : `--${name}`;
    const value = spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : "";
    const short = spec.short !== undefined ? `-${spec.short}, ` : "    ";
    rows.push([`${short}${long}${value}`, spec.help]);
  }
  const width = Math.max(19, ...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, help]) =>
    help.split("\n").map((line, i) =>
      `  ${(i === 0 ? left : "").padEnd(width)}${line}`.trimEnd()
    ).join("\n")
  ).join("\n");
}

/**
 * Whether `--json` was asked for (the command's output, errors included),
 * read with the command's own specs (where its flags end is the command's
 * business: `run`'s program may take a `--json` of its own); for arguments
 * the parser refuses, a plain look before any `--`.
 */
export function wantsJson(
  args: readonly string[],
  specs: FlagSpecs,
  stopAtPositional = false,
): boolean {
  try {
    const { values } = parseFlags(args, specs, {
      command: "",
      stopAtPositional,
    });
    return values.json === true;
  } catch {
    // Bad usage: fall back to a look at the raw arguments.
  }
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "--json" || arg === "--json=true") return true;
  }
  return false;
}

/** A command of the CLI, as cli/main.ts dispatches to it. */
export interface CliCommand {
  /** Runs the command on the arguments after its name; the exit code. */
  run(args: string[]): Promise<number>;
  /** Its flags (for JSON mode; jobs gives the union of its subcommands'). */
  flags: FlagSpecs;
  /** Whether its flags end at the first positional (`run`). */
  stopAtPositional?: boolean;
}
