// A real full disk for tests of what a write that fails with ENOSPC leaves
// behind: a small tmpfs, mounted in a temp dir and filled up. Needs root
// (mount); tests that use it are ignored otherwise.

/** Whether this process may mount a tmpfs (it runs as root on Linux). */
export const CAN_MOUNT: boolean = Deno.build.os === "linux" &&
  Deno.uid() === 0;

/**
 * Runs `fn` with a directory on a 64 KiB tmpfs whose every block is taken
 * by a file named `filler`; `dirs` are made in it first. Empty files can
 * still be made there (they take an inode, not a block), but no data can be
 * written. Unmounted and removed afterwards.
 */
export async function withFullDisk(
  fn: (dir: string) => Promise<void>,
  dirs: string[] = [],
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_full_" });
  await run("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir]);
  try {
    for (const sub of dirs) await Deno.mkdir(`${dir}/${sub}`);
    const filler = await Deno.open(`${dir}/filler`, {
      write: true,
      create: true,
    });
    try {
      const block = new Uint8Array(4096);
      for (;;) await filler.write(block);
    } catch (err) {
      // The tmpfs is full: that is the point.
      if (!/No space left/i.test(String(err))) throw err;
    } finally {
      filler.close();
    }
    await fn(dir);
  } finally {
    await run("umount", [dir]);
    await Deno.remove(dir, { recursive: true });
  }
}

/** The names in a directory, sorted. */
export function namesIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}
