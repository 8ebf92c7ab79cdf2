// Every type the `store` option reaches (an open store is a JobStore, whose
// methods reach the record's types): each entry point that takes or
// returns them re-exports this list with `export type *`, so that its
// documentation is complete on its own.

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
