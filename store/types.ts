// Every type the `store` option reaches, for each entry point to re-export
// (`export type *`) so that its documentation is complete on its own.

export type {
  ChangeFeed,
  CleanOptions,
  JobLease,
  JobStore,
  JobUpdater,
  ListOptions,
  ListResult,
  StoreCapabilities,
  UpdateOptions,
} from "./contract.ts";
export type {
  CreateJobOptions,
  DeleteOptions,
  FinalStatus,
  InvalidJobFile,
  Job,
  JobAttempt,
  JobControlOptions,
  JobEnd,
  JobProgress,
  JobStatus,
  ProgressReport,
} from "./job.ts";
export type { StoreOption, StoreSpec } from "./open.ts";
