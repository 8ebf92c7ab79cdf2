// Intentionally empty: `deno run` of this file is the cost of starting Deno.
