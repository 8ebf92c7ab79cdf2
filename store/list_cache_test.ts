// The listing cache (.list-cache) must never change what a listing says:
// `jobs --json` prints the same bytes with it, without it, while it is
// written, and after records change under it, whoever changes them.

import { assert, assertEquals, ENTRY, MOD } from "../testdata/cli_helpers.ts";
import { type Job, JobStore, newJobId } from "../jobs.ts";
import { toRecord } from "./record.ts";
import { CAN_MOUNT } from "../testdata/full_disk.ts";
import { holdLiveness } from "./liveness.ts";
import { listFormat } from "../cli/jobs/list.ts";
import {
  CACHE_ENV,
  CACHE_NAME,
  isJsonObject,
  keyHash,
  ListCache,
  MIN_AGE_MS,
  streamJobTexts,
} from "./list_cache.ts";

const KEY = "test 1";
const HOUR = 60 * 60 * 1000;
/** Above the listing's threshold for writing a cache (CACHE_MIN_NEW). */
const MANY = 80;

/** Writes a record as epack's Go code or a hand would: plain JSON. */
function put(store: JobStore, job: Job): void {
  Deno.writeTextFileSync(
    store.recordPath(job.id),
    JSON.stringify(toRecord(job), null, 2) + "\n",
    { mode: 0o600 },
  );
}

function job(store: JobStore, i: number, fields: Partial<Job> = {}): Job {
  const id = newJobId();
  return {
    id,
    command: "pull",
    args: [`https://registry.example.com/app${i}`],
    flags: ["--ci"],
    status: "completed",
    pid: 10_000 + i,
    startedAt: new Date(Date.now() - HOUR + i * 1000),
    completedAt: new Date(Date.now() - HOUR + i * 1000 + 500),
    exitCode: 0,
    logPath: store.logPath(id),
    ...fields,
  };
}

/** Records old enough for the cache to take them. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 150));
}

/**
 * Runs `fn` over a jobs directory filled by fill(), then lets its leases go
 * and removes it, whatever `fn` did.
 */
async function withFilledDir(
  fn: (dir: string, store: JobStore) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_list_cache_" });
  const store = new JobStore(dir);
  const leases = await fill(store);
  try {
    await fn(dir, store);
  } finally {
    for (const lease of leases) await lease[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A directory with a job in every status, ended ones of every kind (with
 * results, errors, texts that are not ASCII, lone surrogates escaped in
 * their JSON, unknown keys), a waiting job that keeps an environment, and
 * files that are not valid records. Jobs that have not ended start in the
 * future, so that their duration (0) does not depend on when they are
 * listed. Returns the leases of the running and paused jobs.
 */
async function fill(store: JobStore): Promise<AsyncDisposable[]> {
  await store.ensureDir();
  const future = new Date(Date.now() + HOUR);
  for (let i = 0; i < MANY; i++) put(store, job(store, i));
  put(
    store,
    job(store, 100, { status: "failed", exitCode: 3, signal: "SIGKILL" }),
  );
  put(store, job(store, 101, { status: "timed_out", error: "took too long" }));
  put(store, job(store, 102, { status: "cancelled", exitCode: undefined }));
  put(store, job(store, 103, { status: "lost", error: "supervisor gone" }));
  put(store, job(store, 104, { status: "lost", completedAt: undefined }));
  put(
    store,
    job(store, 105, {
      args: ["caf\u00e9 \u{1f600}", "\ud800 lone"],
      result: { bytes: 1, nested: { list: [1, "two", null] } },
      extra: { future_key: { a: 1 } },
    }),
  );
  put(store, job(store, 106, { startedAt: new Date(Date.now() - HOUR) })); // same start as 0
  const leases: AsyncDisposable[] = [];
  for (const status of ["running", "paused"] as const) {
    const j = job(store, 200, {
      status,
      startedAt: future,
      completedAt: undefined,
      exitCode: undefined,
    });
    put(store, j);
    await Deno.writeFile(store.livenessPath(j.id), new Uint8Array());
    leases.push(await holdLiveness(store, j.id));
  }
  put(
    store,
    job(store, 202, {
      status: "waiting",
      startedAt: future,
      completedAt: undefined,
      exitCode: undefined,
      after: [newJobId()],
      env: { TOKEN: "secret", PATH: "/bin" },
    }),
  );
  put(
    store,
    job(store, 203, {
      status: "queued",
      startedAt: future,
      completedAt: undefined,
      exitCode: undefined,
    }),
  );
  // Recorded running, no lock held, started long ago: lost when listed.
  const lost = job(store, 204, {
    status: "running",
    completedAt: undefined,
    exitCode: undefined,
  });
  put(store, lost);
  await Deno.writeFile(store.livenessPath(lost.id), new Uint8Array());
  const dir = store.dir;
  await Deno.writeTextFile(`${dir}/${newJobId()}.json`, "{not json");
  await Deno.writeTextFile(`${dir}/${newJobId()}.json`, "");
  await Deno.writeFile(
    `${dir}/${newJobId()}.json`,
    new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  );
  await Deno.writeTextFile(`${dir}/bad name.json`, "{}");
  await Deno.mkdir(`${dir}/${newJobId()}.json`);
  const other = job(store, 300);
  await Deno.writeTextFile(
    `${dir}/${newJobId()}.json`,
    JSON.stringify(toRecord(other)),
  );
  return leases;
}

async function cli(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...ENTRY, ...args, "--json", "--jobs-dir", dir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return text;
}

/** What a listing through streamJobTexts() hands over, as one string. */
async function listed(
  store: JobStore,
  cache: boolean,
): Promise<string> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  // The cache takes texts that are a JSON object each, as the CLI's are.
  const text = (job: Job) => JSON.stringify(toRecord(job));
  const parts: string[] = [];
  const invalid = await streamJobTexts(store, {
    wants: () => true,
    job: (job) => {
      parts.push(text(job));
    },
    text: (job) => encoder.encode(text(job)),
    put: (bytes) => {
      parts.push(decoder.decode(bytes));
    },
    key: KEY,
    cache,
  });
  return parts.join("\n") + "\n" + JSON.stringify(invalid);
}

function cacheSize(dir: string, key = KEY): number | undefined {
  const cache = ListCache.open(dir, keyHash(key));
  const size = cache?.size;
  cache?.close();
  return size;
}

function temps(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n.startsWith(CACHE_NAME + ".")
  );
}

Deno.test("jobs --json prints the same bytes with the listing cache as without, cold and warm", async () => {
  await withFilledDir(async (dir) => {
    await settle();
    const expected = new Map<string, string>();
    const listings = [["--all"], [], ["--status", "completed"], [
      "--status",
      "lost",
    ], ["--status", "running"]];
    for (const args of listings) {
      expected.set(args.join(" "), await cli(dir, args, { [CACHE_ENV]: "0" }));
    }
    assert(!existsSync(`${dir}/${CACHE_NAME}`), "disabled: not written");
    // The first listing writes the cache; the others use it.
    for (const round of ["cold", "warm", "warm again"]) {
      for (const args of listings) {
        assertEquals(
          await cli(dir, args),
          expected.get(args.join(" ")),
          `${round}: ${args.join(" ")}`,
        );
      }
      assert(existsSync(`${dir}/${CACHE_NAME}`), round);
    }
    assertEquals(Deno.statSync(`${dir}/${CACHE_NAME}`).mode! & 0o777, 0o600);
    const all = JSON.parse(expected.get("--all")!);
    assert(all.jobs.length >= MANY + 10, "every job listed");
    assertEquals(all.invalid.length, 6);
    const waiting = all.jobs.find((j: { status: string }) =>
      j.status === "waiting"
    );
    assertEquals(waiting.env, ["TOKEN", "PATH"]);
    assertEquals(temps(dir), []);
  });
});

Deno.test("the listing cache gives way to records written, removed or added since", async (t) => {
  await withFilledDir(async (dir, store) => {
    await settle();
    await listed(store, true);
    const cached = cacheSize(dir);
    assert(cached !== undefined && cached >= MANY, `cache of ${cached}`);
    const ids = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      /^[0-9A-Z]{26}\.json$/.test(n)
    ).map((n) => n.slice(0, -5));
    // The record whose file holds this text.
    const holding = (fragment: string): string => {
      const id = ids.find((id) => {
        try {
          return Deno.readTextFileSync(store.recordPath(id)).includes(fragment);
        } catch {
          return false; // Not a file, or not text.
        }
      });
      if (id === undefined) throw new Error(`No record holds ${fragment}`);
      return id;
    };
    const check = async (what: string) => {
      assertEquals(await listed(store, true), await listed(store, false), what);
    };

    await t.step("rewritten in place, same size, mtime put back", async () => {
      const j = await store.load(holding('app7"'));
      const path = store.recordPath(j.id);
      const before = Deno.statSync(path);
      const text = Deno.readTextFileSync(path);
      const changed = text.replace('"app7"', '"appX"').replace(
        "app7",
        "appZ",
      );
      assertEquals(changed.length, text.length);
      const file = Deno.openSync(path, { write: true });
      file.writeSync(new TextEncoder().encode(changed));
      file.close();
      Deno.utimeSync(path, before.atime!, before.mtime!);
      const after = Deno.statSync(path);
      assertEquals(after.ino, before.ino);
      assertEquals(after.size, before.size);
      await check("in place");
      assert((await listed(store, true)).includes("appZ"));
    });

    await t.step(
      "replaced by a rename, as epack's Go code writes",
      async () => {
        const j = await store.load(holding("appZ"));
        j.args = ["renamed"];
        j.status = "failed";
        j.exitCode = 9;
        Deno.writeTextFileSync(
          `${dir}/.tmp-go`,
          JSON.stringify(toRecord(j), null, 2),
        );
        Deno.renameSync(`${dir}/.tmp-go`, store.recordPath(j.id));
        await check("renamed");
        assert((await listed(store, true)).includes('"renamed"'));
      },
    );

    await t.step("an ended job turned back to running by hand", async () => {
      const j = await store.load(holding('app3"'));
      j.status = "running";
      j.completedAt = undefined;
      put(store, j);
      await check("unended");
      assert((await listed(store, true)).includes('app3"'));
    });

    await t.step("removed, and added", async () => {
      const gone = holding('app5"');
      Deno.removeSync(store.recordPath(gone));
      const added = job(store, 500, { args: ["added"] });
      put(store, added);
      await check("removed and added");
      const text = await listed(store, true);
      assert(!text.includes(gone) && text.includes('"added"'));
    });

    await t.step(
      "records listed as soon as written are not cached",
      async () => {
        Deno.removeSync(`${dir}/${CACHE_NAME}`);
        for (let i = 0; i < MANY; i++) put(store, job(store, 600 + i));
        await listed(store, true);
        const cache = ListCache.open(dir, keyHash(KEY))!;
        try {
          const fresh = ids.length; // the older ones only, at most
          assert(cache.size <= fresh, `${cache.size} cached`);
        } finally {
          cache.close();
        }
        await check("fresh");
      },
    );
  });
});

Deno.test("a broken, foreign or hostile cache file is ignored and never hangs a listing", async (t) => {
  await withFilledDir(async (dir, store) => {
    const cachePath = `${dir}/${CACHE_NAME}`;
    await settle();
    const expected = await listed(store, false);
    await listed(store, true);
    const good = Deno.readFileSync(cachePath);
    const check = async (what: string) => {
      assertEquals(await listed(store, true), expected, what);
      assertEquals(temps(dir), [], what);
    };
    const plant = (bytes: Uint8Array) => {
      try {
        Deno.removeSync(cachePath, { recursive: true });
      } catch {
        // Not there.
      }
      Deno.writeFileSync(cachePath, bytes);
    };

    await t.step("truncated", async () => {
      plant(good.subarray(0, good.length - 9));
      assertEquals(cacheSize(dir), undefined);
      await check("truncated");
    });
    await t.step("texts zeroed, as a torn file reads", async () => {
      const torn = good.slice();
      torn.fill(0, 16, Math.min(torn.length, 4096));
      plant(torn);
      assert(cacheSize(dir) !== undefined, "the index is whole");
      await check("torn");
    });
    await t.step("made under another key", async () => {
      plant(good);
      assertEquals(cacheSize(dir, "another version"), undefined);
      await check("key");
    });
    await t.step("empty, or garbage", async () => {
      plant(new Uint8Array());
      await check("empty");
      plant(crypto.getRandomValues(new Uint8Array(60_000)));
      await check("garbage");
    });
    await t.step("a symlink to /dev/zero, a FIFO, a directory", async () => {
      Deno.removeSync(cachePath);
      Deno.symlinkSync("/dev/zero", cachePath);
      assertEquals(cacheSize(dir), undefined);
      Deno.removeSync(cachePath);
      Deno.symlinkSync(`${dir}/nowhere`, cachePath);
      assertEquals(cacheSize(dir), undefined);
      Deno.removeSync(cachePath);
      const mkfifo = await new Deno.Command("mkfifo", { args: [cachePath] })
        .output();
      assert(mkfifo.success);
      assertEquals(cacheSize(dir), undefined);
      await check("fifo");
      Deno.removeSync(cachePath, { recursive: true });
      Deno.mkdirSync(cachePath);
      await check("directory");
      assert(Deno.statSync(cachePath).isDirectory, "not replaced");
      Deno.removeSync(cachePath);
    });
    await t.step(
      "read through the file it opened, if replaced meanwhile",
      async () => {
        plant(good);
        const cache = ListCache.open(dir, keyHash(KEY))!;
        try {
          Deno.writeFileSync(`${cachePath}.new`, new Uint8Array(good.length));
          Deno.renameSync(`${cachePath}.new`, cachePath);
          let texts = 0;
          for (let i = 0; i < cache.size; i++) {
            if (cache.text(i) !== undefined) texts++;
          }
          assertEquals(texts, cache.size, "every text as first written");
        } finally {
          cache.close();
        }
        await check("replaced");
      },
    );
  });
});

Deno.test("listings at once each leave a whole cache; one that cannot write lists all the same", async (t) => {
  await withFilledDir(async (dir) => {
    await settle();
    const expected = await cli(dir, ["--all"], { [CACHE_ENV]: "0" });
    await t.step("four CLIs at once", async () => {
      const outs = await Promise.all(
        [1, 2, 3, 4].map(() => cli(dir, ["--all"])),
      );
      for (const out of outs) assertEquals(out, expected);
      const size = cacheSize(dir, listFormat());
      assert(size !== undefined && size >= MANY, `a whole cache: ${size}`);
      assertEquals(temps(dir), []);
      assertEquals(await cli(dir, ["--all"]), expected);
    });
    await t.step("a directory it may not write in", async () => {
      Deno.removeSync(`${dir}/${CACHE_NAME}`);
      Deno.chmodSync(dir, 0o500);
      try {
        assertEquals(await cli(dir, ["--all"]), expected);
        // root writes anyway; anyone else cannot.
        if (Deno.uid() !== 0) assert(!existsSync(`${dir}/${CACHE_NAME}`));
      } finally {
        Deno.chmodSync(dir, 0o700);
      }
      assertEquals(temps(dir), []);
    });
  });
});

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a listing rewrites the cache only when enough of it is missing or stale", async () => {
  await withFilledDir(async (dir, store) => {
    const cachePath = `${dir}/${CACHE_NAME}`;
    await settle();
    await listed(store, true);
    const first = Deno.statSync(cachePath).ino;
    const size = cacheSize(dir)!;
    // A few new ended jobs: read from their records, the cache stays.
    for (let i = 0; i < 3; i++) put(store, job(store, 700 + i));
    await settle();
    assertEquals(await listed(store, true), await listed(store, false));
    assertEquals(Deno.statSync(cachePath).ino, first);
    assertEquals(cacheSize(dir), size);
    // Many: the next listing writes it again, with them, and without the
    // entries of records removed meanwhile.
    const removed = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => /^[0-9A-Z]{26}\.json$/.test(n)).slice(0, 5);
    for (const name of removed) {
      Deno.removeSync(`${dir}/${name}`, { recursive: true });
    }
    for (let i = 0; i < MANY; i++) put(store, job(store, 800 + i));
    await settle();
    const expected = await listed(store, false);
    assertEquals(await listed(store, true), expected);
    assert(Deno.statSync(cachePath).ino !== first, "rewritten");
    const now = cacheSize(dir)!;
    assert(now > size + MANY - 5 && now <= size + MANY + 3, `${now}`);
    assertEquals(await listed(store, true), expected);
  });
});

/** Each entry's text in a cache file's bytes, as [offset, length]. */
function textSpans(bytes: Uint8Array): [number, number][] {
  const all = new Float64Array(bytes.slice().buffer);
  const [, count, textsEnd, idsLength] = all.subarray(all.length - 8);
  const numbersAt = Math.ceil((textsEnd + idsLength) / 8);
  const spans: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const at = numbersAt + i * 8;
    spans.push([all[at + 5], all[at + 6]]);
  }
  return spans;
}

/** Texts a cache could hold, each `{...}` with no NUL, none of them JSON. */
const NOT_JSON = [
  "{ not json }",
  '{"a": 1}\n  ],\n  "invalid": [],\n  "more": [{"b": 2}',
  '{"a": 1}, {"b": 2}',
  '{"a": "unterminated}',
  '{"a": 01}',
  '{"a": 1,}',
  '{"a": [1, 2}',
  '{"a": "\\u00zz"}',
  '{"a": "\\x41"}',
  '{"a": "tab\there"}',
  '{"a": tru}',
  '{"a": -}',
  '{"a": 1.}',
  '{"a" 1}',
  "{1: 2}",
];

Deno.test("a cache whose texts are not JSON, its checksums right, never breaks the document", async () => {
  await withFilledDir(async (dir) => {
    const cachePath = `${dir}/${CACHE_NAME}`;
    await settle();
    const expected = await cli(dir, ["--all"], { [CACHE_ENV]: "0" });
    assertEquals(await cli(dir, ["--all"]), expected);
    const good = Deno.readFileSync(cachePath);
    const spans = textSpans(good);
    assert(spans.length >= MANY, `${spans.length} entries`);
    const crafts = [
      ...NOT_JSON.map((text) => new TextEncoder().encode(text)),
      // Not UTF-8.
      new Uint8Array([
        ...new TextEncoder().encode('{"a": "'),
        0xff,
        0x22,
        0x7d,
      ]),
      new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]),
    ];
    for (const craft of crafts) {
      const bytes = good.slice();
      for (const [at, length] of spans) {
        assert(craft.length <= length, "fits");
        // Padded inside the object, before its closing brace.
        const text = new Uint8Array(length).fill(0x20);
        text.set(craft.subarray(0, craft.length - 1));
        text[length - 1] = craft[craft.length - 1];
        bytes.set(text, at);
      }
      Deno.writeFileSync(cachePath, bytes);
      const what = new TextDecoder().decode(craft);
      assertEquals(await cli(dir, ["--all"]), expected, what);
      assertEquals(temps(dir), [], what);
    }
  });
});

/** What JSON.parse says of bytes: one JSON object in UTF-8, or not. */
function parsesAsObject(bytes: Uint8Array): boolean {
  try {
    const value = JSON.parse(
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes),
    );
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

Deno.test("the cache's test of a text agrees with JSON.parse, texts mangled at random", () => {
  const encoder = new TextEncoder();
  const samples = [
    ...NOT_JSON,
    "{}",
    " {} ",
    "[]",
    "1",
    '"s"',
    "{}{}",
    '{"a":[1,-0,0.5,1e5,1E-5,-1.5e+3,true,false,null,"\\\\"],"b":{}}',
    '{"\\u00e9\\n\\/\\"": "caf\u00e9 \u{1f600} \\ud800"}',
    JSON.stringify({ jobs: [{ a: "x\u0000y", b: [1, [2, [3]]] }] }, null, 2),
    '{"a": 1}',
    '{"a": 00}',
    '{"a": .5}',
    '{"a": +1}',
    '{"a": 1e}',
    '{"a": "\\u12"}',
    '{"a":1}\u0000',
    '{"a":' + "[".repeat(600) + "]".repeat(600) + "}",
  ];
  const cases: Uint8Array[] = samples.map((text) => encoder.encode(text));
  cases.push(
    new Uint8Array([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]),
    new Uint8Array([
      0x7b,
      0x22,
      0xf4,
      0x90,
      0x80,
      0x80,
      0x22,
      0x3a,
      0x31,
      0x7d,
    ]),
    new Uint8Array([0x7b, 0x22, 0xe0, 0x80, 0x80, 0x22, 0x3a, 0x31, 0x7d]),
    new Uint8Array([0x7b, 0x22, 0xf0, 0x9f, 0x98, 0x22, 0x3a, 0x31, 0x7d]),
    new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
  );
  const base = encoder.encode(
    JSON.stringify(
      {
        id: "01KAAAAAAAAAAAAAAAAAAAAAAA",
        args: ["caf\u00e9 \u{1f600}", '\ud800 " \\ \n'],
        n: [0, -1.5e-7, 12345678901234567890, true, false, null],
        o: { deep: { er: [{}] } },
      },
      null,
      2,
    ),
  );
  // Mangled copies: bytes changed, dropped or doubled, at random.
  let seed = 12345;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const alphabet = encoder.encode('{}[]:,"\\ \n0123456789.eE+-tfnulrsa');
  for (let i = 0; i < 5_000; i++) {
    const bytes = [...base];
    for (let k = 1 + random(3); k > 0; k--) {
      const at = random(bytes.length);
      const kind = random(3);
      if (kind === 0) {
        bytes[at] = random(4) === 0
          ? random(256)
          : alphabet[random(alphabet.length)];
      } else if (kind === 1) bytes.splice(at, 1);
      else bytes.splice(at, 0, bytes[at]);
    }
    cases.push(new Uint8Array(bytes));
  }
  let valid = 0;
  for (const bytes of cases) {
    const expected = parsesAsObject(bytes);
    if (expected) valid++;
    // Nested deeper than the test goes: refused, which is safe (the record
    // is read instead).
    const deep = bytes.length > 1000 && bytes[5] === 0x5b;
    assertEquals(
      isJsonObject(bytes),
      deep ? false : expected,
      new TextDecoder().decode(bytes),
    );
  }
  assert(valid > 100 && valid < cases.length - 1000, `${valid} valid`);
});
Deno.test("a huge cache file that claims millions of entries is not read", async () => {
  await withFilledDir(async (dir, store) => {
    const cachePath = `${dir}/${CACHE_NAME}`;
    await settle();
    const expected = await listed(store, false);
    await listed(store, true);
    const good = Deno.readFileSync(cachePath);
    // Sparse: 4 GiB on disk costs nothing; read, it took 49 s and 4 GiB.
    const count = 2 ** 26 - 2;
    const size = 16 + count * 64 + 64;
    const file = Deno.openSync(cachePath, { write: true, truncate: true });
    try {
      file.writeSync(good.subarray(0, 16));
      file.truncateSync(size);
      file.seekSync(size - 64, Deno.SeekMode.Start);
      const trailer = new Float64Array(good.slice(good.length - 64).buffer);
      trailer.set([count, 16, 0], 1);
      trailer[6] = size;
      file.writeSync(new Uint8Array(trailer.buffer));
    } finally {
      file.close();
    }
    const started = Date.now();
    assertEquals(await listed(store, true), expected);
    const took = Date.now() - started;
    assert(took < 10_000, `${took} ms`);
  });
});

Deno.test("temp files that listings killed while writing left behind are bounded and taken back", async () => {
  await withFilledDir(async (dir) => {
    const cachePath = `${dir}/${CACHE_NAME}`;
    await settle();
    const expected = await cli(dir, ["--all"], { [CACHE_ENV]: "0" });
    // A listing killed while it wrote (`timeout 2 epack jobs --json` on a
    // large directory, every minute, say) leaves its temp file, which may
    // be as large as the cache: the next listings must not leave more.
    const size = 50_000;
    const temp = (slot: number) => `${dir}/${CACHE_NAME}.${slot}.tmp`;
    const old = new Date(Date.now() - HOUR);
    for (let slot = 0; slot < 4; slot++) {
      Deno.writeFileSync(temp(slot), new Uint8Array(size));
      Deno.utimeSync(temp(slot), old, old);
    }
    assertEquals(await cli(dir, ["--all"]), expected);
    assert(existsSync(cachePath), "written");
    assertEquals(temps(dir), [], "the dead writers' temps are gone");
    // Temps being written (fresh) are not a dead writer's: left alone,
    // and no more are made than there are slots.
    Deno.removeSync(cachePath);
    for (let slot = 0; slot < 4; slot++) {
      Deno.writeFileSync(temp(slot), new Uint8Array(size));
    }
    assertEquals(await cli(dir, ["--all"]), expected);
    assertEquals(temps(dir).length, 4);
    for (let slot = 0; slot < 4; slot++) {
      assertEquals(Deno.statSync(temp(slot)).size, size, "not touched");
    }
  });
});

Deno.test("records rewritten in place at every age around the threshold, or recreated under their ID, are never shown stale", async () => {
  await withFilledDir(async (dir, store) => {
    const target = job(store, 900, { args: ["version-a"] });
    put(store, target);
    const path = store.recordPath(target.id);
    const old = new Date(Date.now() - HOUR);
    Deno.utimeSync(path, old, old);
    await settle();
    const encoder = new TextEncoder();
    const text = Deno.readTextFileSync(path);
    // Same size, mtime put back: only the ctime tells the versions apart.
    const versions = ["version-a", "version-b"].map((v) =>
      encoder.encode(text.replace("version-a", v))
    );
    // Rewritten at ages around MIN_AGE_MS (and the ctime's second), each
    // time just after a listing made a cache at that age.
    let current = 0;
    for (const age of [0, 50, 1_000, 1_950, 2_050, 2_600]) {
      await new Promise((r) => setTimeout(r, age));
      if (existsSync(`${dir}/${CACHE_NAME}`)) {
        Deno.removeSync(`${dir}/${CACHE_NAME}`);
      }
      await listed(store, true);
      current = 1 - current;
      const file = Deno.openSync(path, { write: true });
      file.writeSync(versions[current]);
      file.close();
      Deno.utimeSync(path, old, old);
      assertEquals(await listed(store, true), await listed(store, false));
    }
    await settle();
    await listed(store, true);
    // Removed and made again under the same ID, same size and mtime (its
    // inode may well be the one it had).
    const other = versions[1 - current];
    Deno.removeSync(path);
    Deno.writeFileSync(path, other, { mode: 0o600 });
    Deno.utimeSync(path, old, old);
    const expected = await listed(store, false);
    assertEquals(await listed(store, true), expected);
    assert(expected.includes(current === 0 ? "version-b" : "version-a"));
  });
});

Deno.test({
  name: "a full disk leaves the listing as it is, and no temp file",
  ignore: !CAN_MOUNT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "detach_list_cache_" });
    const mount = async (...args: string[]) => {
      const out = await new Deno.Command(args[0], { args: args.slice(1) })
        .output();
      assert(out.success, new TextDecoder().decode(out.stderr));
    };
    await mount(
      "mount",
      "-t",
      "tmpfs",
      "-o",
      "size=1m,mode=0700",
      "tmpfs",
      dir,
    );
    const store = new JobStore(dir);
    try {
      const leases = await fill(store);
      try {
        await settle();
        // Full: the records stay, a cache cannot be written.
        const filler = Deno.openSync(`${dir}/filler`, {
          write: true,
          create: true,
        });
        try {
          for (;;) filler.writeSync(new Uint8Array(4096));
        } catch (err) {
          if (!/No space left/i.test(String(err))) throw err;
        } finally {
          filler.close();
        }
        const expected = await cli(dir, ["--all"], { [CACHE_ENV]: "0" });
        for (const args of [["--all"], [], ["--status", "failed"]]) {
          assertEquals(
            await cli(dir, args),
            await cli(dir, args, { [CACHE_ENV]: "0" }),
          );
        }
        assertEquals(await cli(dir, ["--all"]), expected);
        assert(!existsSync(`${dir}/${CACHE_NAME}`));
        assertEquals(temps(dir), []);
        // Room again: the next listing writes it.
        Deno.removeSync(`${dir}/filler`);
        assertEquals(await cli(dir, ["--all"]), expected);
        assert(existsSync(`${dir}/${CACHE_NAME}`));
        assertEquals(await cli(dir, ["--all"]), expected);
      } finally {
        for (const lease of leases) await lease[Symbol.asyncDispose]();
      }
    } finally {
      await mount("umount", dir);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether util-linux's script(1) is here, to give a listing a terminal. */
const HAS_SCRIPT = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"] }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "in a terminal, a listing without --allow-write or --allow-env asks for neither on the cache's behalf",
  ignore: !HAS_SCRIPT || Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "detach_list_cache_" });
    const store = new JobStore(dir);
    await store.ensureDir();
    try {
      for (let i = 0; i < MANY; i++) put(store, job(store, i));
      await settle();
      const expected = JSON.parse(
        await cli(dir, ["--all"], { [CACHE_ENV]: "0" }),
      );
      // A terminal: Deno would prompt there, and wait for an answer (a
      // listing of ended jobs needs neither permission).
      const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
      const list = async (flags: string) => {
        const command = [
          quote(Deno.execPath()),
          "run",
          flags,
          quote(MOD),
          "jobs --all --json --jobs-dir",
          quote(dir),
          "> " + quote(`${dir}/out`),
        ].join(" ");
        const out = await new Deno.Command("timeout", {
          args: ["20", "script", "-qec", command, "/dev/null"],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          env: { NO_COLOR: "1" },
        }).output();
        const shown = new TextDecoder().decode(out.stdout);
        assert(!shown.includes("Deno requests"), `${flags}: ${shown}`);
        assertEquals(out.code, 0, `${flags}: ${shown}`);
        const listed = JSON.parse(Deno.readTextFileSync(`${dir}/out`));
        assertEquals(listed, expected, flags);
      };
      const flags = ["--allow-read --allow-env", "--allow-read"];
      for (const given of flags) await list(given);
      assert(!existsSync(`${dir}/${CACHE_NAME}`), "not written");
      // Once written (with the permission), read without it.
      await cli(dir, ["--all"]);
      const written = Deno.statSync(`${dir}/${CACHE_NAME}`).ino;
      for (const given of flags) await list(given);
      assertEquals(Deno.statSync(`${dir}/${CACHE_NAME}`).ino, written);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
