// An idle Deno process that has loaded npm:ulid, the module's one
// dependency, and nothing else.
import { monotonicFactory } from "npm:ulid@3.0.2";

monotonicFactory();
await new Promise((r) => setTimeout(r, Number(Deno.args[0] ?? 2) * 1000));
