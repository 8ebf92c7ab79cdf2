// An idle Deno process that has loaded the module (mod.ts and, through it,
// npm:ulid) but runs nothing: what the supervisor costs before it works.
import "../../mod.ts";

await new Promise((r) => setTimeout(r, Number(Deno.args[0] ?? 2) * 1000));
