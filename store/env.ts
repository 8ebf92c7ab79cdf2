// The environment variables that name a store and a host: in a module of
// their own, so that what only reads them (a job's reports) loads no store.

/** The environment variable naming the store: a path or a `postgres://` URL. */
export const STORE_ENV = "EPACK_DETACH_STORE";

/**
 * The environment variable that overrides this host's name, so that tests
 * can run two "hosts" on one machine.
 */
export const HOST_ENV = "EPACK_DETACH_HOST";
