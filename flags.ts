/**
 * Where pull options become the flags of a detached pull, for the CLI and
 * library callers alike, so it runs what a foreground pull would.
 *
 * @example Flags for a detached pull
 * ```ts
 * import { buildPullFlags } from "@epack/detach";
 *
 * const flags = buildPullFlags({ env: "prod", version: "v1.2.3", verify: false });
 * console.log(flags.join(" ")); // --env prod --version v1.2.3 --verify=false --ci
 * ```
 *
 * @module
 */

/** The options of a pull, as {@linkcode buildPullFlags} takes them. */
export interface PullOptions {
  /** Only packs of this environment. */
  env?: string;
  /** Only packs of this workspace. */
  workspace?: string;
  /** Where to write the pack. */
  output?: string;
  /** The pack's digest, `sha256:<hex>`. */
  digest?: string;
  /** The pack's release ID, `rel_…`. */
  releaseId?: string;
  /** The pack's version, for example `v1.2.3`. */
  version?: string;
  /**
   * Overwrite an existing output file.
   * @default {false}
   */
  force?: boolean;
  /**
   * Check the sha256 of the downloaded bytes.
   * @default {true}
   */
  verify?: boolean;
}

/**
 * Builds the flags of a background pull by epack's `BuildPullFlags`: each
 * non-empty string option (`--env`, `--workspace`, `--output`, `--digest`,
 * `--release`, `--version`), `--force`, `--verify=false`, then `--ci`;
 * never `--detach`.
 *
 * @param options The pull's options.
 * @returns The flags, in order.
 */
export function buildPullFlags(options: PullOptions = {}): string[] {
  const flags: string[] = [];
  const strings: [string, string | undefined][] = [
    ["--env", options.env],
    ["--workspace", options.workspace],
    ["--output", options.output],
    ["--digest", options.digest],
    ["--release", options.releaseId],
    ["--version", options.version],
  ];
  for (const [flag, value] of strings) {
    if (value !== undefined && value !== "") flags.push(flag, value);
  }
  if (options.force) flags.push("--force");
  if (options.verify === false) flags.push("--verify=false");
  flags.push("--ci");
  return flags;
}
