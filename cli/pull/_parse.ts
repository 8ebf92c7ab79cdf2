// The command line of `pull`: its flags, its help (from the same specs), and
// the parser that turns arguments back into the PullOptions buildPullFlags()
// was given.

import type { PullOptions } from "../../flags.ts";
import type { JobControlOptions } from "../../store/job.ts";
import { JOB_FLAGS, parseJobFlags, STORE_FLAGS } from "../_detach.ts";
import { usageError } from "../_errors.ts";
import {
  COMMON_FLAGS,
  type FlagSpecs,
  formatFlags,
  parseFlags,
} from "../_args.ts";
import { isDigest, splitCredentials } from "./_registry.ts";

/** A parsed `pull` command line. */
export interface PullCommand {
  /** `--help` was given; nothing else is meaningful. */
  help: boolean;
  /** The registry: a URL or a directory, as given, less its credentials. */
  remote: string;
  /** The credentials the registry's URL held (`user:pass`). */
  userinfo?: string;
  /**
   * The pull's options, canonical: only what was given (never an empty
   * string), `force` only when true, `verify` only when false. The `[ref]`
   * argument is folded into `version`, `releaseId` or `digest`.
   */
  options: PullOptions;
  detach: boolean;
  /** Say what would be downloaded; write nothing. */
  dryRun: boolean;
  /** Plain output: no colour, no bar. */
  ci: boolean;
  json: boolean;
  /** The flags as given: the store's and `--cwd` are read from them. */
  values: Record<string, string | boolean>;
  /** The job's timeout in milliseconds (with `detach` only). */
  timeout?: number;
  /** The job's other options (with `detach` only). */
  control?: JobControlOptions;
}

/** The flags of `epack pull`. */
export const PULL_FLAGS: FlagSpecs = {
  version: { type: "string", value: "V", help: "Only this version" },
  release: { type: "string", value: "ID", help: "Only this release ID" },
  digest: {
    type: "string",
    value: "D",
    help: "Only the pack with this digest (sha256:<hex>)",
  },
  env: {
    type: "string",
    value: "NAME",
    help: "Only packs of this environment",
  },
  workspace: {
    type: "string",
    value: "NAME",
    help: "Only packs of this workspace",
  },
  output: {
    type: "string",
    short: "o",
    value: "PATH",
    help: "Where to write the pack; a directory (or a path ending\n" +
      "in /) gets <name>-<version>.epack inside\n" +
      "(default: ./<name>-<version>.epack)",
  },
  force: {
    type: "boolean",
    help: "Replace an existing regular file at the output\n" +
      "(never a directory, symlink, FIFO or device)",
  },
  verify: {
    type: "boolean",
    negated: true,
    help: "Do not check the size and sha256 digest of the bytes\n" +
      "(also --verify=false; checking is on by default)",
  },
  "dry-run": {
    type: "boolean",
    help: "Say what would be downloaded; write nothing",
  },
  ci: { type: "boolean", help: "Plain output: no colour, no progress bar" },
  json: { ...COMMON_FLAGS.json, help: "Print the result as JSON on stdout" },
  detach: {
    type: "boolean",
    short: "d",
    help: "Run the pull as a background job and return at once",
  },
  ...JOB_FLAGS,
  cwd: {
    ...JOB_FLAGS.cwd,
    help: "With --detach: run the pull in DIR, as `cd DIR && ...`\n" +
      "would: a pack without --output lands there",
  },
  ...STORE_FLAGS,
};

/**
 * The help of `epack pull`. A function, not a constant: building it (every
 * flag's help, formatted) is work that only `--help` needs, not every pull.
 */
export function pullHelp(): string {
  return `Download a pack from a registry.

Usage: epack pull <remote> [ref] [options]

<remote> is the registry: an http(s):// URL, a file:// URL or a directory,
holding index.json. [ref] picks the pack by version (v1.2.3), release ID
(rel_...) or digest (sha256:...), like --version, --release and --digest.
Among the packs that match, the newest published one is pulled.

Options:
${formatFlags(PULL_FLAGS)}

Exit codes: 0 pulled, 1 failure or bad usage, 2 the download did not match
its size or digest (nothing is left at the output path).

Examples:
  epack pull https://packs.example.com/acme v1.2.0 --env prod
  epack pull ./registry --release rel_01HX7Q -o packs/
  epack pull ./registry --detach`;
}

/**
 * Parses the arguments of `epack pull` (after the word `pull`). For any
 * options, `parsePullArgs([remote, ...buildPullFlags(options)]).options`
 * gives the options back (in their canonical form).
 *
 * @throws {CliError} A usage error for anything it cannot accept.
 */
export function parsePullArgs(args: readonly string[]): PullCommand {
  const parsed = parseFlags(args, PULL_FLAGS, { command: "pull" });
  const { values, positionals } = parsed;
  // parseFlags() refuses an empty value, as for every command.
  const flag = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === "string" ? v : undefined;
  };
  const command: PullCommand = {
    help: values.help === true,
    remote: "",
    options: {},
    detach: values.detach === true,
    dryRun: values["dry-run"] === true,
    ci: values.ci === true,
    json: values.json === true,
    values,
  };
  if (command.help) return command;

  const options: PullOptions = {};
  for (
    const key of ["env", "workspace", "output", "digest", "version"] as const
  ) {
    const value = flag(key);
    if (value !== undefined) options[key] = value;
  }
  const releaseId = flag("release");
  if (releaseId !== undefined) options.releaseId = releaseId;
  if (values.force === true) options.force = true;
  if (values.verify === false) options.verify = false;

  if (positionals.length === 0) {
    throw usageError("Missing <remote>: the registry to pull from", "pull");
  }
  if (positionals.length > 2) {
    throw usageError(
      `Unexpected argument: ${JSON.stringify(positionals[2])}`,
      "pull",
    );
  }
  const [remote, ref] = positionals;
  if (remote === "") throw usageError("<remote> is empty", "pull");
  Object.assign(command, splitCredentials(remote));

  if (ref !== undefined && ref !== "") {
    const [key, flagName] = ref.toLowerCase().startsWith("sha256:")
      ? ["digest", "--digest"] as const
      : ref.startsWith("rel_")
      ? ["releaseId", "--release"] as const
      : ["version", "--version"] as const;
    const given = options[key];
    if (given !== undefined && given !== ref) {
      throw usageError(
        `[ref] ${JSON.stringify(ref)} conflicts with ${flagName} ${
          JSON.stringify(given)
        }`,
        "pull",
      );
    }
    options[key] = ref;
  }
  if (options.digest !== undefined && !isDigest(options.digest)) {
    throw usageError(
      `Invalid digest ${
        JSON.stringify(options.digest)
      }: use sha256: followed by 64 hex digits`,
      "pull",
    );
  }
  command.options = options;

  if (values.cwd !== undefined && !command.detach) {
    throw usageError("--cwd applies to a job: add --detach", "pull");
  }
  const { timeout, ...control } = parseJobFlags(
    parsed,
    "pull",
    command.detach,
  );
  if (timeout !== undefined) command.timeout = timeout;
  if (Object.keys(control).length > 0) command.control = control;
  if (command.detach && command.dryRun) {
    throw usageError("--dry-run cannot be combined with --detach", "pull");
  }
  return command;
}
