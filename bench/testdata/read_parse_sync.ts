// The floor for `epack jobs --all --json`, as the issue sets it: a whole
// `deno run` that reads every record in a jobs directory synchronously,
// JSON.parse-s it and prints them all as one JSON document.
//
//   deno run --allow-read bench/testdata/read_parse_sync.ts <jobs-dir>

const dir = Deno.args[0];
const jobs: unknown[] = [];
for (const entry of Deno.readDirSync(dir)) {
  if (!entry.name.endsWith(".json")) continue;
  jobs.push(JSON.parse(Deno.readTextFileSync(`${dir}/${entry.name}`)));
}
const bytes = new TextEncoder().encode(
  JSON.stringify({ jobs }, null, 2) + "\n",
);
for (let done = 0; done < bytes.length;) {
  done += Deno.stdout.writeSync(bytes.subarray(done));
}
