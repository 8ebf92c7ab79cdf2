// Environment variables, apart so that a job's reports load no store.

/** The environment variable naming the store: a path or a `postgres://` URL. */
export const STORE_ENV = "EPACK_DETACH_STORE";

/** The environment variable that overrides this host's name (for tests). */
export const HOST_ENV = "EPACK_DETACH_HOST";
