// Specification of what `epack pull` does to its output path: it creates a
// file or replaces a regular file (with --force), and never replaces
// anything else, from the first check to the rename that moves the pack in.

import assert from "node:assert/strict";
import { join } from "../../util/path.ts";
import {
  assertOneLineError,
  cli,
  listDir,
  serveDir,
  withTempDir,
  writeRegistry,
} from "../../testdata/cli_helpers.ts";
import { until as poll } from "../../testdata/poll.ts";

const PACK = {
  name: "api",
  version: "v1",
  published_at: "2024-01-01T00:00:00Z",
  content: "the pack\n",
};

async function sh(script: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** lstat's answer in words, to check a special file was left alone. */
async function kind(path: string): Promise<string> {
  const info = await Deno.lstat(path);
  return info.isFile
    ? "file"
    : info.isSymlink
    ? "symlink"
    : info.isDirectory
    ? "directory"
    : info.isFifo
    ? "fifo"
    : info.isCharDevice
    ? `char ${info.rdev}`
    : info.isSocket
    ? "socket"
    : "other";
}

/**
 * A pull to `target`, with and without --force: each refused with one line
 * naming what is there, the thing unchanged, and no temp file left. A dry
 * run exits 0 and says the pull would stop.
 */
async function assertRefused(
  dir: string,
  target: string,
  what: RegExp,
  registry = join(dir, "reg"),
): Promise<void> {
  const before = await kind(target);
  const entries = await listDir(dir);
  for (const force of [[], ["--force"]]) {
    const r = await cli(["pull", registry, "-o", target, ...force]);
    assertOneLineError(r, 1, what);
    assert.doesNotMatch(r.stderr, /--force/, "--force would not help");
    assert.equal(await kind(target), before);
    assert.deepEqual(await listDir(dir), entries, "no temp file left");

    const dry = await cli([
      "pull",
      registry,
      "-o",
      target,
      "--dry-run",
      ...force,
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^Would pull api v1 /m);
    const [, note] = dry.stdout.split("\n");
    assert.match(note, /^ {2}but the pull would stop: /);
    assert.match(note.replace("  but the pull would stop: ", "error: "), what);

    const json = await cli([
      "pull",
      registry,
      "-o",
      target,
      "--dry-run",
      "--json",
      ...force,
    ]);
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout);
    assert.equal(result.output_exists, true);
    assert.match(`error: ${result.output_conflict}`, what);
    assert.equal(await kind(target), before);
  }
}

Deno.test("pull never replaces what is not a regular file, --force or not", async (t) => {
  await withTempDir(async (dir) => {
    await writeRegistry(join(dir, "reg"), [PACK]);

    await t.step("a FIFO", async () => {
      const fifo = join(dir, "fifo");
      await sh('mkfifo "$1"', fifo);
      // Opening a FIFO for writing would block: a pull must not even try.
      await assertRefused(dir, fifo, /fifo is a FIFO; a pull only replaces/);
      await Deno.remove(fifo);
    });

    await t.step("a symbolic link, whose target stays untouched", async () => {
      const target = join(dir, "precious.txt");
      await Deno.writeTextFile(target, "precious\n");
      const link = join(dir, "link");
      await Deno.symlink(target, link);
      await assertRefused(dir, link, /link is a symbolic link/);
      assert.equal(await Deno.readTextFile(target), "precious\n");
      assert.equal(await Deno.readLink(link), target);
      // A dangling link is refused too: it is not "nothing there".
      const dangling = join(dir, "dangling");
      await Deno.symlink(join(dir, "nowhere"), dangling);
      await assertRefused(dir, dangling, /dangling is a symbolic link/);
      await assert.rejects(Deno.lstat(join(dir, "nowhere")));
      for (const name of [target, link, dangling]) await Deno.remove(name);
    });

    await t.step({
      name: "a character device (as root, a copy of /dev/null's)",
      ignore: Deno.uid() !== 0,
      fn: async () => {
        // A node of our own in the temp dir: /dev/null is never used.
        const device = join(dir, "null");
        await sh('mknod "$1" c 1 3', device);
        await assertRefused(dir, device, /null is a character device/);
        assert.equal(await kind(device), await kind("/dev/null"));
        await Deno.remove(device);
      },
    });

    await t.step("a socket", async () => {
      const path = join(dir, "sock");
      const listener = Deno.listen({ transport: "unix", path });
      try {
        await assertRefused(dir, path, /sock is a socket/);
      } finally {
        // Closing it removes the socket file.
        listener.close();
      }
    });

    await t.step("a directory where the pack's file would go", async () => {
      // -o out/ puts api-v1.epack inside out/, and that is a directory.
      const out = join(dir, "out");
      await Deno.mkdir(join(out, "api-v1.epack"), { recursive: true });
      await assertRefused(
        out,
        `${out}/`,
        /out\/api-v1\.epack is a directory/,
        join(dir, "reg"),
      );
      assert.deepEqual(await listDir(join(out, "api-v1.epack")), []);
      await Deno.remove(out, { recursive: true });
    });

    await t.step("--detach refuses before any job is recorded", async () => {
      const fifo = join(dir, "fifo");
      await sh('mkfifo "$1"', fifo);
      const jobsDir = join(dir, "jobs");
      const r = await cli([
        "pull",
        join(dir, "reg"),
        "-o",
        fifo,
        "--force",
        "--detach",
        "--jobs-dir",
        jobsDir,
      ]);
      assertOneLineError(r, 1, /fifo is a FIFO/);
      await assert.rejects(Deno.stat(jobsDir), Deno.errors.NotFound);
      assert.equal(await kind(fifo), "fifo");
      await Deno.remove(fifo);
    });

    await t.step("a regular file is replaced with --force only", async () => {
      const file = join(dir, "x.epack");
      await Deno.writeTextFile(file, "old\n");
      const dry = await cli([
        "pull",
        join(dir, "reg"),
        "-o",
        file,
        "--dry-run",
        "--json",
        "--force",
      ]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(JSON.parse(dry.stdout).output_conflict, null);
      const r = await cli(["pull", join(dir, "reg"), "-o", file, "--force"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(file), "the pack\n");
      await Deno.remove(file);
    });
  });
});

Deno.test("pull --dry-run with an existing output says what the pull would do, and exits 0", async () => {
  await withTempDir(async (dir) => {
    await writeRegistry(join(dir, "reg"), [PACK]);
    const file = join(dir, "x.epack");
    await Deno.writeTextFile(file, "old\n");
    const text = await cli(["pull", join(dir, "reg"), "-o", file, "--dry-run"]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stderr, "");
    assert.equal(
      text.stdout.split("\n")[1],
      `  but the pull would stop: ${file} already exists (use --force to overwrite it)`,
    );
    const forced = await cli([
      "pull",
      join(dir, "reg"),
      "-o",
      file,
      "--dry-run",
      "--force",
    ]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(
      forced.stdout,
      /\n {2}replacing the existing file \(--force\)\n$/,
    );
    const json = await cli([
      "pull",
      join(dir, "reg"),
      "-o",
      file,
      "--dry-run",
      "--json",
    ]);
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout);
    assert.equal(result.dry_run, true);
    assert.equal(result.output_exists, true);
    assert.match(result.output_conflict, /already exists/);
    // Nothing was written by any of them.
    assert.equal(await Deno.readTextFile(file), "old\n");
    assert.deepEqual(await listDir(dir), ["reg", "x.epack"]);

    const absent = await cli([
      "pull",
      join(dir, "reg"),
      "-o",
      join(dir, "new.epack"),
      "--dry-run",
      "--json",
    ]);
    assert.equal(JSON.parse(absent.stdout).output_exists, false);
    assert.equal(JSON.parse(absent.stdout).output_conflict, null);
  });
});

Deno.test("pull --force checks the output again right before the rename", async () => {
  await withTempDir(async (dir) => {
    const content = "x".repeat(100_000);
    const entries = await writeRegistry(join(dir, "reg"), [{
      ...PACK,
      content,
    }]);
    // The pack's bytes come in two halves; the second waits until the test
    // has swapped the output, a regular file when the pull began, for a
    // FIFO.
    let release!: () => void;
    const released = new Promise<void>((r) => release = r);
    await using server = serveDir(join(dir, "reg"), {
      [`/${entries[0].path}`]: () =>
        new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(new TextEncoder().encode(content.slice(0, 50_000)));
              await released;
              c.enqueue(new TextEncoder().encode(content.slice(50_000)));
              c.close();
            },
          }),
        ),
    });
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const target = join(out, "x.epack");
    await Deno.writeTextFile(target, "old\n");
    const pull = cli(["pull", server.url, "-o", target, "--force"]);
    await poll(
      "the download to start",
      async () => (await listDir(out)).length >= 2,
    );
    await Deno.remove(target);
    await sh('mkfifo "$1"', target);
    release();
    assertOneLineError(await pull, 1, /x\.epack is a FIFO/);
    assert.equal(await kind(target), "fifo");
    assert.deepEqual(await listDir(out), ["x.epack"], "the temp file is gone");
  });
});
