// The flags of each `jobs` subcommand, for the parser and the help.

import { JOB_STATUSES } from "../../store/job.ts";
import { COMMON_FLAGS, type FlagSpecs } from "../_args.ts";

export const LIST: FlagSpecs = {
  all: {
    type: "boolean",
    short: "a",
    help: "List every job, not only those not ended (and lost\n" +
      "ones whose processes still run)",
  },
  status: {
    type: "string",
    value: "STATUS",
    help: `Only this status: ${JOB_STATUSES.slice(0, 4).join(", ")},\n${
      JOB_STATUSES.slice(4).join(", ")
    }`,
  },
  clean: {
    type: "boolean",
    help: "Remove ended jobs older than --older-than (default 24h)",
  },
  "older-than": {
    type: "string",
    value: "D",
    help: "With --clean: the age, such as 24h, 7d or 90m",
  },
};
export const SPECS = {
  list: LIST,
  show: {},
  logs: {
    follow: {
      type: "boolean",
      short: "f",
      help: "Keep printing what the job writes until it ends",
    },
    lines: {
      type: "string",
      short: "n",
      value: "N",
      help: "Only the last N lines",
    },
  },
  wait: {
    timeout: {
      type: "string",
      value: "D",
      help: "Give up after D (such as 30s or 10m); 0 checks once",
    },
  },
  cancel: {
    grace: {
      type: "string",
      value: "D",
      help: "Time between SIGTERM and SIGKILL (default: the job's own)",
    },
  },
  pause: {},
  resume: {},
  rm: {},
  restart: {},
  clean: {
    "older-than": {
      type: "string",
      value: "D",
      help: "Only jobs that ended longer ago than D (default 24h)",
    },
  },
  report: {
    done: { type: "string", value: "N", help: "How much is done (0 or more)" },
    total: {
      type: "string",
      value: "N",
      help: "How much there is in all (at least --done)",
    },
    unit: {
      type: "string",
      value: "U",
      help: "What is counted: B for bytes, or a word such as files",
    },
    message: {
      type: "string",
      value: "TEXT",
      help: "A short note, one line (at most 200 characters)",
    },
    result: {
      type: "string",
      value: "JSON",
      help: "The job's result, a JSON object (at most 64 KiB)",
    },
  },
  limit: {},
} satisfies Record<string, FlagSpecs>;
export type Sub = keyof typeof SPECS;

/** The subcommands of `jobs`, for suggestions. */
export const JOBS_SUBCOMMANDS: readonly string[] = Object.keys(SPECS);
export const ALL_FLAGS: FlagSpecs = Object.assign(
  {},
  COMMON_FLAGS,
  ...Object.values(SPECS),
);
