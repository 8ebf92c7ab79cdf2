// Writes the example registry: a few small packs and the index.json that
// lists them with their sha256 digests and sizes. The content is derived
// from fixed seeds, so running it again gives the same bytes.
//
//   deno run --allow-write=examples/registry examples/registry/generate.ts

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

interface Spec {
  name: string;
  workspace: string;
  environment: string;
  version: string;
  release: string;
  published_at: string;
  files: number;
}

const SPECS: Spec[] = [
  {
    name: "acme-api",
    workspace: "acme",
    environment: "staging",
    version: "v1.0.0",
    release: "rel_01HVA2K8Q4M6N8P0R2S4T6V8X0",
    published_at: "2024-04-02T09:15:00Z",
    files: 12,
  },
  {
    name: "acme-api",
    workspace: "acme",
    environment: "prod",
    version: "v1.0.0",
    release: "rel_01HVD7W3E5G7J9K1M3N5P7Q9S1",
    published_at: "2024-04-03T14:30:00Z",
    files: 12,
  },
  {
    name: "acme-api",
    workspace: "acme",
    environment: "staging",
    version: "v1.1.0",
    release: "rel_01HWB4C6D8F0H2J4K6M8N0P2R4",
    published_at: "2024-05-06T08:00:00Z",
    files: 16,
  },
  {
    name: "acme-web",
    workspace: "acme",
    environment: "prod",
    version: "v2.3.1",
    release: "rel_01HWF9T1V3X5Z7B9D1F3H5K7M9",
    published_at: "2024-05-09T17:45:00Z",
    files: 20,
  },
  {
    name: "billing",
    workspace: "globex",
    environment: "prod",
    version: "v0.9.0",
    release: "rel_01HX02A4C6E8G0J2L4N6Q8S0U2",
    published_at: "2024-05-20T11:00:00Z",
    files: 8,
  },
];

/** A small deterministic generator (xorshift32), so no bytes are random. */
function* numbers(seed: number): Generator<number> {
  let x = seed || 1;
  for (;;) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    yield x;
  }
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

/** A pack: a manifest, then evidence records, as plain text. */
function packText(spec: Spec): string {
  const rng = numbers(seedOf(`${spec.name}@${spec.version}/${spec.release}`));
  const hex = (n: number) =>
    Array.from(
      { length: n },
      () => rng.next().value.toString(16).padStart(8, "0"),
    )
      .join("");
  const lines = [
    "epack-pack: 1",
    `name: ${spec.name}`,
    `workspace: ${spec.workspace}`,
    `environment: ${spec.environment}`,
    `version: ${spec.version}`,
    `release: ${spec.release}`,
    `built_at: ${spec.published_at}`,
    "",
  ];
  for (let i = 0; i < spec.files; i++) {
    lines.push(
      `--- evidence/${String(i).padStart(3, "0")}.json`,
      JSON.stringify({
        control: `CC-${(rng.next().value % 90) + 10}.${i}`,
        collected_at: spec.published_at,
        sha256: hex(8),
        sample: hex(16),
      }),
    );
  }
  return lines.join("\n") + "\n";
}

const root = fileURLToPath(new URL(".", import.meta.url));
const packs = [];
for (const spec of SPECS) {
  const bytes = new TextEncoder().encode(packText(spec));
  const path = `packs/${spec.name}-${spec.version}-${spec.environment}.epack`;
  await Deno.writeFile(`${root}${path}`, bytes);
  packs.push({
    name: spec.name,
    workspace: spec.workspace,
    environment: spec.environment,
    version: spec.version,
    release: spec.release,
    digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    size: bytes.length,
    path,
    published_at: spec.published_at,
  });
}
await Deno.writeTextFile(
  `${root}index.json`,
  JSON.stringify({ packs }, null, 2) + "\n",
);
console.log(`Wrote ${packs.length} packs and index.json in ${root}`);
