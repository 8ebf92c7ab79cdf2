// The CLI's one flag parser, and the help of flags, from the same specs:
// `--x`, `--x=false`, `--no-x`, `--opt=value`, `--opt value`, `-o value`,
// `-ovalue`, `-fd`, and `--`. Not node:util's parseArgs: it refuses a value
// that starts with "-" and `--verify=false`, and a detached pull must parse
// back exactly the flags buildPullFlags made (as Go's pflag does).

import { usageError } from "./_errors.ts";
import { closest } from "./_suggest.ts";

/** How one flag is spelled, what it takes, and how help shows it. */
export interface FlagSpec {
  /** `string` takes a value, never an empty one; `boolean` does not. */
  type: "string" | "boolean";
  /** A one-letter alias, without the dash. */
  short?: string;
  /** The value's name in help (`D`, `DIR`); string flags only. */
  value?: string;
  /** The help text; a "\n" starts an indented line. No help: not listed. */
  help?: string;
  /** Listed in help as `--no-<name>`: a boolean that is on by default. */
  negated?: boolean;
  /** A string flag that may be repeated: see {@linkcode ParsedFlags.lists}. */
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
 * The command, for the usage hint of errors, and whether flags stop at the
 * first positional argument (`run`'s program has flags of its own).
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

/** Parses a command's arguments; a usage error for what it cannot read. */
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
 * The index of the first positional argument by the same grammar, unknown
 * flags skipped; -1 if there is none before `--`.
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
  // An empty value is refused: `--jobs-dir "$UNSET"` meaning the default
  // would hide a mistake.
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

/** The lines of help that list flags (those with help), in their order. */
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
 * Whether `--json` was asked for, by the command's own specs (`run`'s
 * program may take a `--json` of its own); for arguments the parser
 * refuses, a plain look before any `--`.
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
    // Bad usage: the raw arguments say.
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
