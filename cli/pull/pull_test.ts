// Specification of `epack pull`: the real CLI, run as a subprocess against
// registries on disk and served over HTTP on 127.0.0.1.

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { buildPullFlags, type PullOptions } from "../../flags.ts";
import { parsePullArgs } from "./_parse.ts";
import { CliError } from "../_errors.ts";
import {
  assertOneLineError,
  cli,
  lines,
  listDir,
  MOD,
  pasteHints,
  selfInvocation,
  serveDir,
  serveTruncated,
  sha256,
  type TestPack,
  waitForRecord,
  withTempDir,
  writeRegistry,
} from "../../testdata/cli_helpers.ts";
import { until as poll } from "../../testdata/poll.ts";

const D1 = `sha256:${"a".repeat(64)}`;

const PACKS: TestPack[] = [
  {
    name: "api",
    version: "v1.0.0",
    environment: "prod",
    workspace: "acme",
    release: "rel_A",
    published_at: "2024-01-01T00:00:00Z",
  },
  {
    name: "api",
    version: "v1.0.0",
    environment: "staging",
    workspace: "acme",
    release: "rel_B",
    published_at: "2024-02-01T00:00:00Z",
  },
  {
    name: "api",
    version: "v1.1.0",
    environment: "staging",
    workspace: "acme",
    release: "rel_C",
    published_at: "2024-03-01T00:00:00Z",
  },
  {
    name: "web",
    version: "v2.0.0",
    environment: "prod",
    workspace: "globex",
    release: "rel_D",
    // Not the last in the list, but the newest: order must not matter.
    published_at: "2024-04-01T00:00:00.5+02:00",
  },
  {
    name: "web",
    version: "v1.9.0",
    environment: "prod",
    workspace: "globex",
    release: "rel_E",
    published_at: "2024-03-31T00:00:00Z",
  },
];

// --- The parser ------------------------------------------------------------

/** What the parser gives back for options: only what is set. */
function canonical(options: PullOptions): PullOptions {
  const out: PullOptions = {};
  for (
    const key of [
      "env",
      "workspace",
      "output",
      "digest",
      "releaseId",
      "version",
    ] as const
  ) {
    const v = options[key];
    if (v !== undefined && v !== "") out[key] = v;
  }
  if (options.force) out.force = true;
  if (options.verify === false) out.verify = false;
  return out;
}

Deno.test("parsePullArgs() gives back the options buildPullFlags() was given", async (t) => {
  const strings = [undefined, "", "x", "--detach", "-o", "a b=c", "--"];
  const digests = [undefined, "", D1, D1.toUpperCase().replace("SHA", "sha")];
  const bools = [undefined, false, true];

  await t.step("every combination of values", () => {
    let cases = 0;
    for (const env of strings) {
      for (const workspace of strings) {
        for (const output of strings) {
          for (const releaseId of [undefined, "", "rel_1", "-d"]) {
            for (const version of [undefined, "v1.2.3", "--force"]) {
              for (const digest of digests) {
                for (const force of bools) {
                  for (const verify of bools) {
                    const options: PullOptions = {
                      env,
                      workspace,
                      output,
                      releaseId,
                      version,
                      digest,
                      force,
                      verify,
                    };
                    const parsed = parsePullArgs([
                      "https://r.example/x",
                      ...buildPullFlags(options),
                    ]);
                    assert.deepEqual(parsed.options, canonical(options));
                    assert.equal(parsed.remote, "https://r.example/x");
                    assert.equal(parsed.ci, true);
                    assert.equal(parsed.detach, false);
                    cases++;
                  }
                }
              }
            }
          }
        }
      }
    }
    assert.ok(cases > 100_000);
  });

  await t.step("generated values of every kind of character", () => {
    // A small deterministic generator, so a failure can be reproduced.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const alphabet = ["a", "-", "=", " ", "/", "é", "\n", "'", '"', "d", "0"];
    const text = () => {
      if (next() % 5 === 0) return undefined;
      const n = next() % 8;
      return Array.from({ length: n }, () => alphabet[next() % alphabet.length])
        .join("");
    };
    for (let i = 0; i < 2_000; i++) {
      const options: PullOptions = {
        env: text(),
        workspace: text(),
        output: text(),
        releaseId: text(),
        version: text(),
        digest: next() % 2 ? D1 : undefined,
        force: bools[next() % 3],
        verify: bools[next() % 3],
      };
      const parsed = parsePullArgs(["reg", ...buildPullFlags(options)]);
      assert.deepEqual(
        parsed.options,
        canonical(options),
        JSON.stringify(options),
      );
    }
  });

  await t.step("[ref] becomes the option of its kind", () => {
    assert.deepEqual(parsePullArgs(["r", "v1.2.3"]).options, {
      version: "v1.2.3",
    });
    assert.deepEqual(parsePullArgs(["r", "rel_01HX"]).options, {
      releaseId: "rel_01HX",
    });
    assert.deepEqual(parsePullArgs(["r", D1]).options, { digest: D1 });
    assert.deepEqual(parsePullArgs(["r", "v1", "--version", "v1"]).options, {
      version: "v1",
    });
    const options = parsePullArgs(["r", "v1", "--env", "prod"]).options;
    assert.deepEqual(
      parsePullArgs(["r", ...buildPullFlags(options)]).options,
      options,
    );
  });

  await t.step("every spelling of verify and force", () => {
    for (
      const [args, verify] of [
        [["--no-verify"], false],
        [["--verify=false"], false],
        [["--verify=0"], false],
        [["--verify"], undefined],
        [["--verify=true"], undefined],
      ] as const
    ) {
      assert.equal(parsePullArgs(["r", ...args]).options.verify, verify);
    }
    // Given twice, whichever way: a usage error (cli/_args.ts).
    assert.throws(() => parsePullArgs(["r", "--no-verify", "--verify"]));
    assert.equal(parsePullArgs(["r", "--force"]).options.force, true);
    assert.equal(
      parsePullArgs(["r", "--force=false"]).options.force,
      undefined,
    );
  });

  await t.step("flag forms: -o, -ovalue, --output=value, -d clusters", () => {
    assert.equal(parsePullArgs(["r", "-o", "a"]).options.output, "a");
    assert.equal(parsePullArgs(["r", "-oa"]).options.output, "a");
    assert.equal(parsePullArgs(["r", "--output=a=b"]).options.output, "a=b");
    assert.equal(parsePullArgs(["-d", "r"]).detach, true);
    assert.equal(
      parsePullArgs(["r", "--", "-weird-ref"]).options.version,
      "-weird-ref",
    );
  });

  await t.step("bad input is a usage error", () => {
    for (
      const args of [
        [],
        ["r", "--bogus"],
        ["r", "-x"],
        ["r", "--output"],
        ["r", "v1", "extra"],
        ["r", "v1", "--version", "v2"],
        ["r", "--digest", "sha256:abc"],
        ["r", "sha256:xyz"],
        ["r", "--verify=maybe"],
        ["r", "--no-output"],
        ["r", "--timeout", "5m"],
        ["r", "--detach", "--timeout", "soon"],
        ["r", "--detach", "--dry-run"],
      ]
    ) {
      assert.throws(
        () => parsePullArgs(args),
        (err: unknown) => err instanceof CliError && err.usage === "pull",
        JSON.stringify(args),
      );
    }
  });
});

// --- Selection ---------------------------------------------------------------

Deno.test("pull chooses the newest pack that matches every filter", async (t) => {
  await withTempDir(async (dir) => {
    const reg = join(dir, "reg");
    await writeRegistry(reg, PACKS);
    const pick = async (...args: string[]) => {
      const r = await cli(["pull", reg, "--dry-run", "--json", ...args], {
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const cases: [string, string[], string][] = [
      ["no filter: the newest of all", [], "rel_D"],
      ["a version", ["v1.0.0"], "rel_B"],
      ["--version", ["--version", "v1.0.0"], "rel_B"],
      ["a version and --env", ["v1.0.0", "--env", "prod"], "rel_A"],
      ["a release ID", ["rel_A"], "rel_A"],
      ["--release", ["--release", "rel_C"], "rel_C"],
      ["--workspace", ["--workspace", "acme"], "rel_C"],
      [
        "--env and --workspace",
        ["--env", "prod", "--workspace", "acme"],
        "rel_A",
      ],
    ];
    await Promise.all(cases.map(async ([, args, release]) => {
      const got = await pick(...args);
      assert.equal(got.release, release, JSON.stringify(args));
    }));
    await t.step("a digest, as [ref] and as --digest", async () => {
      const index = JSON.parse(
        await Deno.readTextFile(join(reg, "index.json")),
      );
      const digest = index.packs[2].digest;
      assert.equal((await pick(digest)).release, "rel_C");
      assert.equal(
        (await pick("--digest", digest.toUpperCase().replace("SHA", "sha")))
          .release,
        "rel_C",
      );
    });
    await t.step("--dry-run writes nothing", async () => {
      assert.deepEqual(await listDir(dir), ["reg"]);
    });
  });
});

Deno.test("pull with no match fails and lists what is available", async (t) => {
  await withTempDir(async (dir) => {
    await writeRegistry(dir, PACKS);
    await t.step(
      "text: one error line, then the packs newest first",
      async () => {
        const r = await cli(["pull", dir, "v9.9.9", "--env", "prod"]);
        assertOneLineError(
          r,
          1,
          /No pack in .* matches version v9\.9\.9, environment prod/,
        );
        const out = lines(r.stderr);
        assert.match(out[1], /Available packs/);
        assert.match(
          out[2],
          /NAME\s+VERSION\s+ENV\s+WORKSPACE\s+RELEASE\s+PUBLISHED/,
        );
        assert.match(
          out[3],
          /web\s+v2\.0\.0\s+prod\s+globex\s+rel_D\s+2024-04-01/,
        );
        assert.equal(out.length, 3 + PACKS.length);
        assert.doesNotMatch(r.stderr, /^Run '/m, "not a usage error");
      },
    );
    await t.step("--json: the packs on stdout", async () => {
      const r = await cli(["pull", dir, "rel_nope", "--json"]);
      assert.equal(r.code, 1);
      const body = JSON.parse(r.stdout);
      assert.match(body.error, /release rel_nope/);
      assert.equal(body.exit_code, 1);
      assert.ok(body.available.every((p: object) => "published_at" in p));
      assert.deepEqual(
        body.available.map((p: { release: string }) => p.release),
        ["rel_D", "rel_E", "rel_C", "rel_B", "rel_A"],
      );
    });
  });
});

// --- Downloading -------------------------------------------------------------

Deno.test("pull downloads over HTTP and from a directory, and checks the bytes", async (t) => {
  await withTempDir(async (dir) => {
    const reg = join(dir, "reg");
    const content = "x".repeat(300_000) + "end\n";
    await writeRegistry(reg, [{
      name: "big",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
      content,
    }]);
    await using server = serveDir(reg);
    const out = join(dir, "out");
    await Deno.mkdir(out);

    await t.step("HTTP, with --json", async () => {
      const r = await cli([
        "pull",
        `${server.url}`,
        "-o",
        join(out, "a.epack"),
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const body = JSON.parse(r.stdout);
      assert.equal(body.output, join(out, "a.epack"));
      assert.equal(body.verified, true);
      assert.equal(body.source, `${server.url}packs/big-v1-any-x.epack`);
      assert.equal(
        sha256(await Deno.readFile(join(out, "a.epack"))),
        sha256(content),
      );
      assert.deepEqual(server.requests, [
        "/index.json",
        "/packs/big-v1-any-x.epack",
      ]);
    });
    await t.step(
      "plain progress lines when stderr is not a terminal",
      async () => {
        const r = await cli([
          "pull",
          `${server.url}index.json`,
          "-o",
          join(out, "b.epack"),
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /^big v1: .*\(100%\)$/m);
        assert.ok(!r.stderr.includes("\r") && !r.stderr.includes("\x1b["));
        assert.match(
          r.stdout,
          /^Pulled big v1 to .*b\.epack \(293\.0 KiB, sha256 verified\)$/m,
        );
      },
    );
    await t.step(
      "a directory, a file:// URL, and -o naming a directory",
      async () => {
        const byPath = await cli(["pull", "reg", "-o", "out/"], { cwd: dir });
        assert.equal(byPath.code, 0, byPath.stderr);
        const byUrl = await cli([
          "pull",
          `file://${reg}`,
          "-o",
          join(out, "c.epack"),
        ]);
        assert.equal(byUrl.code, 0, byUrl.stderr);
        assert.equal(
          sha256(await Deno.readFile(join(out, "big-v1.epack"))),
          sha256(content),
        );
        assert.equal(
          sha256(await Deno.readFile(join(out, "c.epack"))),
          sha256(content),
        );
      },
    );
    await t.step("the default output is ./<name>-<version>.epack", async () => {
      const r = await cli(["pull", reg, "--ci"], { cwd: out });
      assert.equal(r.code, 1, "big-v1.epack already exists there");
      await Deno.remove(join(out, "big-v1.epack"));
      const again = await cli(["pull", reg, "--ci"], { cwd: out });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(await listDir(out), [
        "a.epack",
        "b.epack",
        "big-v1.epack",
        "c.epack",
      ]);
    });
  });
});

Deno.test("pull exits 2 and leaves nothing when the bytes do not verify", async (t) => {
  await withTempDir(async (dir) => {
    const reg = join(dir, "reg");
    const at = "2024-01-01T00:00:00Z";
    await writeRegistry(reg, [
      {
        name: "bad",
        version: "v1",
        release: "rel_bad",
        published_at: at,
        digest: D1,
      },
      {
        name: "short",
        version: "v1",
        release: "rel_short",
        published_at: at,
        size: 1_000_000,
      },
      {
        name: "long",
        version: "v1",
        release: "rel_long",
        published_at: at,
        size: 3,
      },
    ]);
    await using server = serveDir(reg);
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const pull = (...args: string[]) =>
      cli(["pull", ...args, "-o", join(out, "x.epack")]);

    await t.step(
      "a digest mismatch, from a directory and over HTTP",
      async () => {
        const [a, b] = await Promise.all([
          pull(reg, "rel_bad"),
          pull(server.url, "rel_bad"),
        ]);
        for (const r of [a, b]) {
          assertOneLineError(
            r,
            2,
            /Verification failed: bad v1 does not match its digest: expected sha256:a{64}, got sha256:[0-9a-f]{64}; nothing was written$/,
          );
        }
        assert.deepEqual(await listDir(out), [], "no output, no temp file");
      },
    );
    await t.step("fewer or more bytes than the index's size", async () => {
      const [short, long] = await Promise.all([
        pull(reg, "rel_short"),
        pull(server.url, "rel_long"),
      ]);
      assertOneLineError(
        short,
        2,
        /short v1 is \d+ bytes, but its index gives 1000000/,
      );
      assertOneLineError(
        long,
        2,
        /long v1 is larger than the 3 bytes its index gives/,
      );
      assert.deepEqual(await listDir(out), []);
    });
    await t.step(
      "--no-verify and --verify=false turn the checks off",
      async () => {
        const a = await cli([
          "pull",
          reg,
          "rel_bad",
          "-o",
          join(out, "a.epack"),
          "--no-verify",
        ]);
        const b = await cli([
          "pull",
          server.url,
          "rel_long",
          "-o",
          join(out, "b.epack"),
          "--verify=false",
        ]);
        assert.equal(a.code, 0, a.stderr);
        assert.equal(b.code, 0, b.stderr);
        assert.match(a.stdout, /not verified/);
        assert.deepEqual(await listDir(out), ["a.epack", "b.epack"]);
      },
    );
  });
});

Deno.test("pull overwrites an existing output only with --force", async () => {
  await withTempDir(async (dir) => {
    await writeRegistry(join(dir, "reg"), PACKS.slice(0, 1));
    const target = join(dir, "x.epack");
    await Deno.writeTextFile(target, "precious");
    const r = await cli(["pull", join(dir, "reg"), "-o", target]);
    assertOneLineError(
      r,
      1,
      /x\.epack already exists \(use --force to overwrite it\)/,
    );
    assert.equal(await Deno.readTextFile(target), "precious");
    const forced = await cli([
      "pull",
      join(dir, "reg"),
      "-o",
      target,
      "--force",
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(await Deno.readTextFile(target), /^pack api v1\.0\.0/);
    assert.deepEqual(await listDir(dir), ["reg", "x.epack"]);
  });
});

Deno.test("pull refuses a path that escapes the registry", async (t) => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "secret.epack"), "secret\n");
    const one = (path: string, content = "secret\n"): TestPack[] => [{
      name: "p",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
      path,
      content,
    }];
    const out = join(dir, "out.epack");
    for (
      const [what, path, message] of [
        [
          "..",
          "../secret.epack",
          /packs\[0\] \(p\) "path" "\.\.\/secret\.epack" escapes the registry/,
        ],
        [
          "a nested ..",
          "packs/../../secret.epack",
          /"path" .* escapes the registry/,
        ],
        [
          "an encoded ..",
          "%2e%2e/secret.epack",
          /"path" .* escapes the registry/,
        ],
        [
          "an absolute path",
          join(dir, "secret.epack"),
          /"path" .* is absolute/,
        ],
        ["a file:// URL", `file://${dir}/secret.epack`, /"path" .* is a URL/],
      ] as [string, string, RegExp][]
    ) {
      await t.step(`file registry, ${what}`, async () => {
        const reg = join(dir, `reg-${what.replace(/\W/g, "")}`);
        await writeRegistry(reg, one(path));
        assertOneLineError(
          await cli(["pull", reg, "-o", out]),
          1,
          message,
        );
      });
    }
    await t.step("file registry, a symlink leading outside", async () => {
      const reg = join(dir, "reg-link");
      await writeRegistry(reg, one("packs/link.epack"));
      await Deno.symlink(
        join(dir, "secret.epack"),
        join(reg, "packs", "link.epack"),
      );
      assertOneLineError(
        await cli(["pull", reg, "-o", out]),
        1,
        /Refusing pack p v1: its path "packs\/link\.epack" leads outside the registry/,
      );
    });
    await t.step("HTTP, another origin", async () => {
      const reg = join(dir, "reg-http");
      await using other = serveDir(dir);
      await writeRegistry(reg, one(`${other.url}secret.epack`));
      await using server = serveDir(reg);
      assertOneLineError(
        await cli(["pull", server.url, "-o", out]),
        1,
        /"path" .* is a URL/,
      );
      // Spaces and tabs, which URL parsing drops, must not smuggle in a
      // protocol-relative "//host" either.
      await writeRegistry(reg, one(`\t${other.url.slice(5)}secret.epack`));
      assertOneLineError(
        await cli(["pull", server.url, "-o", out]),
        1,
        /"path" .* holds a control character/,
      );
      assert.deepEqual(other.requests, [], "the other server was never asked");
    });
    await t.step("HTTP, .. above the index's directory", async () => {
      await writeRegistry(join(dir, "sub", "reg"), one("../../secret.epack"));
      await using server = serveDir(dir);
      assertOneLineError(
        await cli(["pull", `${server.url}sub/reg/`, "-o", out]),
        1,
        /escapes the registry/,
      );
      assert.deepEqual(server.requests, ["/sub/reg/index.json"]);
    });
    await t.step("nothing was written", async () => {
      assert.ok(!(await listDir(dir)).includes("out.epack"));
    });
  });
});

Deno.test("pull names the entry and field of a bad index", async () => {
  await withTempDir(async (dir) => {
    const good = {
      name: "a",
      version: "v1",
      digest: D1,
      path: "a.epack",
      published_at: "2024-01-01T00:00:00Z",
    };
    const cases: [unknown, RegExp][] = [
      ["not json", /not valid JSON/],
      [[], /not a JSON object/],
      [{ pack: [] }, /"packs" is missing or not a list/],
      [
        { packs: [good, { ...good, digest: "md5:1" }] },
        /packs\[1\] \(a\) "digest" must be sha256:/,
      ],
      [
        { packs: [{ ...good, name: "../x" }] },
        /packs\[0\] \(\.\.\/x\) "name" "\.\.\/x" is not a safe pack name/,
      ],
      [
        { packs: [{ ...good, version: undefined }] },
        /packs\[0\] \(a\) "version" is missing/,
      ],
      [{ packs: [{ ...good, size: -1 }] }, /"size" must be a whole number/],
      [
        { packs: [{ ...good, published_at: "yesterday" }] },
        /"published_at" "yesterday" is not an RFC 3339 time/,
      ],
      [{ packs: [{ ...good, workspace: 3 }] }, /"workspace" is not a string/],
      [{ packs: [7] }, /packs\[0\] is not an object/],
    ];
    await Promise.all(cases.map(async ([index, message], i) => {
      const reg = join(dir, `r${i}`);
      await Deno.mkdir(reg);
      await Deno.writeTextFile(
        join(reg, "index.json"),
        typeof index === "string" ? index : JSON.stringify(index),
      );
      assertOneLineError(await cli(["pull", reg, "--dry-run"]), 1, message);
    }));
    const none = await cli(["pull", join(dir, "missing")]);
    assertOneLineError(
      none,
      1,
      /No registry at .*missing: .*index\.json does not exist/,
    );
  });
});

Deno.test("an interrupted pull leaves no file at the output path and no temp file", async (t) => {
  await withTempDir(async (dir) => {
    const content = new Uint8Array(200_000).fill(0x61);
    await writeRegistry(dir, [{
      name: "p",
      version: "v1",
      published_at: "2024-01-01T00:00:00Z",
      content,
      path: "pack.epack",
    }]);
    const index = await Deno.readTextFile(join(dir, "index.json"));
    const out = join(dir, "out");
    await Deno.mkdir(out);

    await t.step("the server closes the connection mid-body", async () => {
      await using server = serveTruncated(200_000, 50_000, {
        files: { "/index.json": index },
      });
      const r = await cli(["pull", server.url, "-o", join(out, "p.epack")]);
      assertOneLineError(
        r,
        1,
        /^error: Download of p v1 failed after 48\.8 KiB: /,
      );
      assert.deepEqual(server.requests, ["/index.json", "/pack.epack"]);
      assert.deepEqual(await listDir(out), []);
    });

    await t.step("Ctrl-C (SIGINT) during the download", async () => {
      await using server = serveTruncated(200_000, 50_000, {
        stall: true,
        files: { "/index.json": index },
      });
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MOD,
          "pull",
          server.url,
          "-o",
          join(out, "p.epack"),
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await poll("the temp file to have bytes in it", async () => {
        const names = await listDir(out);
        if (names.length === 0) return false;
        const info = await Deno.stat(join(out, names[0])).catch(() => null);
        return info !== null && info.size > 0;
      });
      child.kill("SIGINT");
      const result = await child.output();
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 130, stderr);
      assert.match(
        stderr,
        /^error: Pull interrupted by SIGINT; nothing was written$/m,
      );
      assert.deepEqual(await listDir(out), []);
    });
  });
});

Deno.test("pull --detach runs the pull as a job that completes", async () => {
  await withTempDir(async (dir) => {
    const jobs = join(dir, "jobs");
    const reg = join(dir, "reg");
    await writeRegistry(reg, PACKS);
    const started = Date.now();
    const r = await cli([
      "pull",
      "reg",
      "v1.0.0",
      "--env",
      "prod",
      "--detach",
      "--jobs-dir",
      "jobs",
      "-o",
      "x.epack",
      "--json",
      "--timeout",
      "5m",
    ], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - started < 60_000, "returns long before 5m");
    const job = JSON.parse(r.stdout);
    assert.equal(job.command, "pull");
    assert.deepEqual(job.args, [reg], "the remote made absolute");
    assert.deepEqual(
      job.flags,
      buildPullFlags({
        env: "prod",
        output: join(dir, "x.epack"),
        version: "v1.0.0",
      }),
    );
    assert.equal(job.timeout_ms, 300_000);
    assert.equal(job.log_path, join(jobs, `${job.id}.log`));
    const record = await waitForRecord(jobs, job.id);
    const log = await Deno.readTextFile(job.log_path);
    assert.equal(record.status, "completed", log);
    assert.equal(record.exit_code, 0);
    const index = JSON.parse(await Deno.readTextFile(join(reg, "index.json")));
    assert.equal(
      sha256(await Deno.readFile(join(dir, "x.epack"))),
      index.packs[0].digest,
    );
    assert.match(log, /Pulled api v1\.0\.0 to .*x\.epack/);
  });
});

Deno.test("pull --detach prints hints that work when pasted", async () => {
  await withTempDir(async (dir) => {
    await writeRegistry(join(dir, "reg"), PACKS.slice(0, 1));
    // A directory a shell must be given quoted.
    const jobs = join(dir, "the user's jobs");
    const r = await cli([
      "pull",
      join(dir, "reg"),
      "-d",
      "--jobs-dir",
      jobs,
      "-o",
      join(dir, "y.epack"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = /Started job (\w+) \(PID \d+\)/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    assert.ok(r.stdout.includes(`Log:     ${jobs}/${id}.log`), r.stdout);
    assert.ok(
      r.stdout.includes(
        `  Status:  ${selfInvocation()} jobs ${id} --jobs-dir `,
      ),
      r.stdout,
    );
    assert.equal((await waitForRecord(jobs, id)).status, "completed");
    const { status, follow } = await pasteHints(r.stdout);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^Job ${id}\n  Status: +completed`));
    assert.equal(follow.code, 0, follow.stderr);
    assert.match(follow.stdout, /Pulled api v1\.0\.0 to .*y\.epack/);
  });
});

Deno.test("the example registry's index matches its packs", async () => {
  const root = new URL("../../examples/registry/", import.meta.url);
  const index = JSON.parse(
    await Deno.readTextFile(new URL("index.json", root)),
  );
  assert.ok(index.packs.length >= 3);
  for (const pack of index.packs) {
    const bytes = await Deno.readFile(new URL(pack.path, root));
    assert.equal(sha256(bytes), pack.digest, pack.path);
    assert.equal(bytes.length, pack.size, pack.path);
  }
  // From a directory of its own: the README's quick start leaves the pack
  // it pulls in the repository's root. Nothing in the working tree may
  // decide a test.
  await withTempDir(async (dir) => {
    const r = await cli(["pull", fromFileUrl(root), "--dry-run", "--json"], {
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).name, "billing");
  });
});

Deno.test("pull --detach runs where the user stands, or in --cwd, as cd DIR && pull would", async () => {
  await withTempDir(async (dir) => {
    // The jobs directory is the project's; the job runs where the user is.
    await Deno.writeTextFile(join(dir, "deno.json"), "{}\n");
    await Deno.mkdir(join(dir, "sub", "deeper"), { recursive: true });
    await writeRegistry(join(dir, "reg"), PACKS.slice(0, 1));
    const pull = async (...args: string[]) => {
      const r = await cli(["pull", "../reg", "--detach", "--json", ...args], {
        cwd: join(dir, "sub"),
      });
      assert.equal(r.code, 0, r.stderr);
      const job = JSON.parse(r.stdout);
      assert.equal(job.log_path, join(dir, ".epack", "jobs", `${job.id}.log`));
      assert.deepEqual(job.args, [join(dir, "reg")]);
      const record = await waitForRecord(join(dir, ".epack", "jobs"), job.id);
      const log = await Deno.readTextFile(job.log_path);
      assert.equal(record.status, "completed", log);
      return job;
    };
    const here = await pull();
    assert.equal(here.working_dir, join(dir, "sub"));
    assert.deepEqual(here.flags, ["--ci"]);
    assert.deepEqual(await listDir(join(dir, "sub")), [
      "api-v1.0.0.epack",
      "deeper",
    ]);
    // --cwd: the pack lands in DIR; -o is the user's path, from here.
    const there = await pull("--cwd", "deeper");
    assert.equal(there.working_dir, join(dir, "sub", "deeper"));
    assert.deepEqual(await listDir(join(dir, "sub", "deeper")), [
      "api-v1.0.0.epack",
    ]);
    const named = await pull("--cwd", "deeper", "-o", "mine.epack");
    assert.deepEqual(named.flags, [
      "--output",
      join(dir, "sub", "mine.epack"),
      "--ci",
    ]);
    const refused = await cli(["pull", "../reg", "--cwd", "deeper"], {
      cwd: join(dir, "sub"),
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--cwd applies to a job: add --detach/);
  });
});
