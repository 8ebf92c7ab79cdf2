// The floor for `epack jobs --all --json`: a whole `deno run` that reads and
// JSON.parse-s every record in a jobs directory, 32 at a time as
// JobStore.list() does, and prints them as one JSON document.
//
//   deno run --allow-read bench/testdata/read_parse.ts <jobs-dir>

import { join } from "node:path";

const dir = Deno.args[0];
const paths: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  if (entry.name.endsWith(".json")) paths.push(join(dir, entry.name));
}
const jobs = new Array<unknown>(paths.length);
let next = 0;
const worker = async () => {
  while (next < paths.length) {
    const i = next++;
    jobs[i] = JSON.parse(await Deno.readTextFile(paths[i]));
  }
};
await Promise.all(Array.from({ length: 32 }, worker));
console.log(JSON.stringify({ jobs }, null, 2));
