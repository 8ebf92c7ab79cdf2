// Specification of job IDs (_job_id.ts): validation, the ULID generator
// (against https://github.com/ulid/spec), and matching what a user typed.

import assert from "node:assert/strict";
import {
  AmbiguousJobIdError,
  checkJobName,
  decodeTime,
  encodeTime,
  InvalidJobIdError,
  JobNotFoundError,
  matchJobId,
  monotonicUlid,
  newJobId,
  ulidSpelling,
  validateJobId,
  validateReference,
} from "./job_id.ts";
import { HOSTILE_IDS, isInvalidId } from "../testdata/store_helpers.ts";

Deno.test("validateJobId() accepts epack's alphabet up to 64 characters", () => {
  const fresh = newJobId();
  for (const id of ["a", "A_9", "a".repeat(64), fresh, "job_01HQ3K"]) {
    assert.equal(validateJobId(id), id);
  }
  for (const [id, reason] of HOSTILE_IDS) {
    assert.throws(() => validateJobId(id), isInvalidId(id, reason));
  }
});

Deno.test("names and references: what may name a job", () => {
  for (const name of ["a", "nightly-backup.v2", "A9", "x".repeat(64)]) {
    assert.equal(checkJobName(name), name);
    assert.equal(validateReference(name), name);
  }
  for (
    const bad of ["", "9a", "-a", ".a", "a b", "a/b", "é", "x".repeat(65)]
  ) {
    assert.throws(() => checkJobName(bad), TypeError, JSON.stringify(bad));
  }
  // A reference is an ID or a name (dots and dashes, a letter first).
  assert.equal(validateReference("job_1"), "job_1");
  assert.equal(validateReference("job-1.log"), "job-1.log");
  for (const [id] of HOSTILE_IDS) {
    if (/^[A-Za-z][A-Za-z0-9._-]*$/.test(id)) continue; // a name
    assert.throws(() => validateReference(id), InvalidJobIdError, id);
  }
  assert.throws(() => validateReference("1.x"), InvalidJobIdError);
});

Deno.test("newJobId() gives IDs that sort by creation time, even within a millisecond", () => {
  const ids: string[] = [];
  for (let i = 0; i < 10_000; i++) ids.push(newJobId());
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} !< ${ids[i]} at ${i}`);
  }
  for (const id of ids) {
    assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    validateJobId(id);
  }
});

// ---------------------------------------------------------------------------
// The ULID generator, against https://github.com/ulid/spec

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A generator whose clock is `clock.now` and whose randomness is real. */
function fixedClock(ms: number) {
  const clock = { now: ms };
  return { clock, next: monotonicUlid(undefined, () => clock.now) };
}

Deno.test("encodeTime() encodes the spec's example time", () => {
  // The spec's example: 01ARYZ6S41 is the time part of 01ARYZ6S41TSV4RRFFQ69G5FAV.
  assert.equal(encodeTime(1469918176385), "01ARYZ6S41");
  assert.equal(decodeTime("01ARYZ6S41TSV4RRFFQ69G5FAV"), 1469918176385);
  assert.equal(encodeTime(0), "0000000000");
  // The largest time, 2^48 - 1, and the spec's largest valid ULID.
  assert.equal(encodeTime(2 ** 48 - 1), "7ZZZZZZZZZ");
  assert.equal(decodeTime("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), 2 ** 48 - 1);
  for (const bad of [-1, 2 ** 48, 1.5, NaN, Infinity]) {
    assert.throws(() => encodeTime(bad), RangeError, String(bad));
  }
});

Deno.test("a ULID is 26 characters of Crockford's base32: 10 of time, 16 of randomness", () => {
  const before = Date.now();
  const ids = Array.from({ length: 10_000 }, () => newJobId());
  const after = Date.now();
  const seen = new Set<string>();
  for (const id of ids) {
    assert.match(id, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    const t = decodeTime(id);
    assert.ok(t >= before && t <= after, `${id}: ${t}`);
    for (const c of id.slice(10)) seen.add(c);
  }
  // The random part uses the whole alphabet, and never I, L, O or U.
  assert.deepEqual([...seen].sort().join(""), CROCKFORD);
  assert.equal(new Set(ids).size, ids.length);
});

Deno.test("ULIDs made in the same millisecond increase by one in their random part", () => {
  const { next } = fixedClock(1469918176385);
  const ids = Array.from({ length: 10_000 }, () => next());
  const first = BigInt(decodeRandom(ids[0]));
  for (let i = 0; i < ids.length; i++) {
    assert.equal(ids[i].slice(0, 10), "01ARYZ6S41");
    assert.equal(BigInt(decodeRandom(ids[i])), first + BigInt(i), ids[i]);
    if (i > 0) assert.ok(ids[i - 1] < ids[i], `${ids[i - 1]} !< ${ids[i]}`);
  }
});

Deno.test("a ULID sorts by its time: lexicographic order is time order", () => {
  const times = [
    0,
    1,
    31,
    32,
    1023,
    1024,
    1469918176385,
    Date.now(),
    2 ** 40,
    2 ** 48 - 2,
    2 ** 48 - 1,
  ];
  for (let i = 0; i < 1000; i++) {
    times.push(Math.floor(Math.random() * 2 ** 48));
  }
  const ids = times.map((t) => fixedClock(t).next());
  const byId = [...ids].sort();
  const byTime = [...ids].sort((a, b) => decodeTime(a) - decodeTime(b));
  assert.deepEqual(byId, byTime);
  // decodeTime() gives back each time, in either case.
  ids.forEach((id, i) => {
    assert.equal(decodeTime(id), times[i]);
    assert.equal(decodeTime(id.toLowerCase()), times[i]);
  });
});

Deno.test("a later millisecond draws a new random part; a clock that goes back keeps the order", () => {
  const { clock, next } = fixedClock(1_000_000);
  const a = next();
  clock.now += 1;
  const b = next();
  assert.equal(decodeTime(b), 1_000_001);
  assert.ok(a < b);
  clock.now -= 500;
  const c = next();
  // The last time is kept and the random part incremented, as in the same
  // millisecond, so IDs still sort in creation order.
  assert.equal(decodeTime(c), 1_000_001);
  assert.equal(BigInt(decodeRandom(c)), BigInt(decodeRandom(b)) + 1n);
});

Deno.test("the random part overflowing within one millisecond throws, as the spec says", () => {
  let t = 5_000;
  const next = monotonicUlid((bytes) => bytes.fill(0xff), () => t);
  assert.equal(next(), "00000004W8ZZZZZZZZZZZZZZZZ");
  assert.throws(() => next(), /overflow/);
  // Still overflowed: it never hands out an ID it already gave.
  assert.throws(() => next(), /overflow/);
  t++;
  assert.equal(next(), "00000004W9ZZZZZZZZZZZZZZZZ");
});

Deno.test("decodeTime() rejects what is not a ULID", () => {
  for (
    const bad of [
      "",
      "01ARYZ6S41",
      "01ARYZ6S41TSV4RRFFQ69G5FA",
      "01ARYZ6S41TSV4RRFFQ69G5FAVX",
      "81ARYZ6S41TSV4RRFFQ69G5FAV",
      "01ARYZ6S41TSV4RRFFQ69G5FAU",
      "01ARYZ6S41TSV4RRFFQ69G5FA_",
    ]
  ) {
    assert.throws(() => decodeTime(bad), TypeError, bad);
  }
});

/** The random part of a ULID as a decimal string (it has 80 bits). */
function decodeRandom(id: string): string {
  let n = 0n;
  for (const c of id.slice(10)) n = n * 32n + BigInt(CROCKFORD.indexOf(c));
  return n.toString();
}

// ---------------------------------------------------------------------------
// Matching what a user typed

Deno.test("ulidSpelling() gives the stored form of a ULID typed in another case", () => {
  const id = "01ARYZ6S41TSV4RRFFQ69G5FAV";
  assert.equal(ulidSpelling(id.toLowerCase()), id);
  assert.equal(ulidSpelling("01aRyZ6s41TSV4RRFFQ69G5FAV"), id);
  // Already stored as typed, or not a ULID at all.
  assert.equal(ulidSpelling(id), undefined);
  assert.equal(ulidSpelling("job_alpha"), undefined);
  assert.equal(ulidSpelling("01aryz6s41"), undefined);
  assert.equal(ulidSpelling("81aryz6s41tsv4rrffq69g5fav"), undefined);
  // Crockford's I, L, O, U are not in a ULID, in any case.
  assert.equal(ulidSpelling("01aryz6s41tsv4rrffq69g5fai"), undefined);
});

Deno.test("matchJobId() picks the one ID a query names", async (t) => {
  const A = "01ARYZ6S41TSV4RRFFQ69G5FAV";
  const B = "01ARYZ6S42XXXXXXXXXXXXXXXX";
  const ids = [A, B, "job_alpha1", "job_alpha2", "job_b", "job_beta"];
  const notFound = (query: string) => (err: unknown) => {
    assert.ok(err instanceof JobNotFoundError, String(err));
    assert.equal(err.id, query);
    return true;
  };
  const ambiguous = (candidates: string[]) => (err: unknown) => {
    assert.ok(err instanceof AmbiguousJobIdError, String(err));
    assert.deepEqual(err.candidates, candidates);
    return true;
  };
  await t.step("an exact ID, even one that prefixes others", () => {
    assert.equal(matchJobId(A, ids), A);
    assert.equal(matchJobId("job_b", ids), "job_b");
  });
  await t.step("a ULID in lower or mixed case", () => {
    assert.equal(matchJobId(A.toLowerCase(), ids), A);
    assert.equal(matchJobId("01aryz6s41TSV4RRFFQ69G5FAV", ids), A);
  });
  await t.step("a ULID prefix or suffix in any case", () => {
    assert.equal(matchJobId("01aryz6s41", ids), A);
    assert.equal(matchJobId("5fav", ids), A);
    assert.equal(matchJobId("xxxx", ids), B);
    assert.throws(() => matchJobId("01aryz6s4", ids), ambiguous([A, B]));
  });
  await t.step("other IDs only in the case they have", () => {
    assert.equal(matchJobId("job_be", ids), "job_beta");
    assert.throws(() => matchJobId("JOB_BE", ids), notFound("JOB_BE"));
    assert.throws(() => matchJobId("JOB_B", ids), notFound("JOB_B"));
    assert.throws(() => matchJobId("BETA", ids), notFound("BETA"));
  });
  await t.step("prefixes win over suffixes; none is not found", () => {
    assert.equal(matchJobId("beta", [...ids, "beta_x"]), "beta_x");
    assert.equal(matchJobId("beta", ids), "job_beta");
    assert.throws(
      () => matchJobId("job_al", ids),
      ambiguous(["job_alpha1", "job_alpha2"]),
    );
    assert.throws(() => matchJobId("zzzz", ids), notFound("zzzz"));
    assert.throws(() => matchJobId("zzzz", []), notFound("zzzz"));
  });
  await t.step(
    "a prefix or suffix shorter than 4 characters names nothing",
    () => {
      assert.throws(() => matchJobId("job", ids), notFound("job"));
      assert.throws(() => matchJobId("fav", ids), notFound("fav"));
      // A whole ID of any length still names its job.
      assert.equal(matchJobId("job_b", ids), "job_b");
      assert.equal(matchJobId("j", [...ids, "j"]), "j");
    },
  );
  await t.step(
    "a name after IDs and ULIDs, before prefixes and suffixes",
    () => {
      const named = (name: string) => () =>
        name === "beta" ? "job_b" : undefined;
      assert.equal(matchJobId("beta", ids, undefined, named("beta")), "job_b");
      assert.equal(
        matchJobId("job_beta", ids, undefined, named("x")),
        "job_beta",
      );
      // A name of fewer than 4 characters names its job.
      assert.equal(matchJobId("ab", ids, undefined, () => "job_b"), "job_b");
      // What cannot be a name is not looked up as one.
      let asked = false;
      matchJobId("5fav", ids, undefined, () => (asked = true, "job_b"));
      assert.equal(asked, false);
      const short = (err: unknown) =>
        err instanceof JobNotFoundError &&
        /no job has that ID or name, and a prefix or suffix of an ID needs at least 4 characters\) in \/jobs$/
          .test(err.message);
      assert.throws(() => matchJobId("fav", ids, "/jobs"), short);
    },
  );
  await t.step("an ID stored exactly as typed wins over the same ULID", () => {
    const lower = A.toLowerCase();
    assert.equal(matchJobId(lower, [A, lower]), lower);
    assert.equal(matchJobId(lower, [lower, A]), lower);
  });
});
