// A throwaway PostgreSQL cluster for the tests: initdb into a temp dir, a
// private port on 127.0.0.1 and a private socket dir, started with pg_ctl,
// stopped and removed on dispose. No mock: a test that cannot start the
// server fails (startCluster() throws), it never skips.
//
// initdb refuses to run as root, so as root every server command runs as
// the `postgres` user through runuser, in a dir owned by that user; as
// anyone else it runs as the current user.

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

/** The directory holding initdb, pg_ctl and postgres, newest version first. */
export function findPgBin(): string {
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
  throw new Error(
    "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql",
  );
}

/**
 * Starts a new cluster. Throws if it cannot: the caller's test fails.
 *
 * @returns The running cluster; dispose it (await using) to remove it.
 */
export async function startCluster(
  options: ClusterOptions = {},
): Promise<PgCluster> {
  const bin = findPgBin();
  const asRoot = Deno.uid() === 0;
  const root = await Deno.makeTempDir({ prefix: "detach_pg_" });
  const dataDir = `${root}/data`;
  const sockDir = `${root}/sock`;
  const logFile = `${root}/server.log`;
  const password = `pw_${crypto.randomUUID().replaceAll("-", "")}`;
  let port = 0;
  let running = false;

  const run = async (args: string[], what: string) => {
    const cmd = asRoot ? "runuser" : args[0];
    const argv = asRoot ? ["-u", "postgres", "--", ...args] : args.slice(1);
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
    if (asRoot) {
      const uid = Number(await idOf("-u"));
      const gid = Number(await idOf("-g"));
      for (const p of [root, sockDir, `${root}/pwfile`]) {
        await Deno.chown(p, uid, gid);
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

  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    password,
    dataDir,
    stop,
    start,
    [Symbol.asyncDispose]: remove,
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function idOf(flag: string): Promise<string> {
  const out = await new Deno.Command("id", {
    args: [flag, "postgres"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      "Cannot find the postgres user (it comes with the postgresql package)",
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}
