// An idle Deno process: it sleeps for the seconds given, then exits. The
// baseline for the supervisor's memory.
await new Promise((r) => setTimeout(r, Number(Deno.args[0] ?? 2) * 1000));
