// Prometheus text exposition: families with HELP/TYPE, labels escaped, counters per configured client from zero.
import { expect, test } from "bun:test";
import { ServerMetrics } from "./metrics.ts";

const EMPTY = { latest: [], trashBytes: 0, trashItems: 0, usedBytes: 0, freeBytes: null };

test("every configured client has its counters from 0; events add up per client", () => {
  const m = new ServerMetrics(["web01", "laptop"], 1_700_000_000_000);
  m.sessionOpened("web01");
  m.manifestPage("web01", 10, 3);
  m.chunkReceived("web01", 100);
  m.chunkReceived("web01", 50);
  m.handshakeRefused("UNAUTHORIZED");
  m.handshakeRefused("TIMEOUT");
  m.archiveStored("web01");
  const text = m.render({
    ...EMPTY,
    latest: [{ client: "web01", name: "etc", storedAtMs: 1_700_000_123_456, size: 4096 }],
    freeBytes: 1e12,
  });
  const lines = text.split("\n");
  expect(lines).toContain('hashrelay_received_bytes_total{client="web01"} 150');
  expect(lines).toContain('hashrelay_received_bytes_total{client="laptop"} 0');
  expect(lines).toContain('hashrelay_chunks_deduplicated_total{client="web01"} 7');
  expect(lines).toContain('hashrelay_chunks_received_total{client="web01"} 2');
  expect(lines).toContain('hashrelay_sessions_total{client="web01"} 1');
  expect(lines).toContain("hashrelay_sessions_active 1");
  expect(lines).toContain("hashrelay_auth_failures_total 1");
  expect(lines).toContain('hashrelay_handshake_failures_total{code="TIMEOUT"} 1');
  expect(lines).toContain('hashrelay_last_success_timestamp_seconds{client="web01",name="etc"} 1700000123.456');
  expect(lines).toContain('hashrelay_archive_bytes{client="web01",name="etc"} 4096');
  expect(lines).toContain("hashrelay_storage_free_bytes 1000000000000");
  expect(lines).toContain("hashrelay_start_time_seconds 1700000000");
  m.sessionClosed();
  m.sessionClosed();
  expect(m.render(EMPTY)).toContain("hashrelay_sessions_active 0\n");
});

test("each family has one HELP and one TYPE line before its samples; unknown free space is left out", () => {
  const text = new ServerMetrics(["web01"]).render(EMPTY);
  const families = [...text.matchAll(/^# TYPE (\S+) (counter|gauge)$/gm)].map((m) => m[1]!);
  expect(new Set(families).size).toBe(families.length);
  for (const f of families) expect(text).toContain(`# HELP ${f} `);
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("#")) continue;
    const name = line.split(/[{ ]/)[0]!;
    expect(families).toContain(name);
  }
  expect(text).not.toContain("hashrelay_storage_free_bytes");
  expect(text.endsWith("\n")).toBe(true);
});

test("label values are escaped (backslash, quote, newline)", () => {
  const text = new ServerMetrics([]).render({ ...EMPTY, latest: [{ client: 'a"b', name: "c\\d\ne", storedAtMs: 0, size: 1 }] });
  expect(text).toContain('hashrelay_archive_bytes{client="a\\"b",name="c\\\\d\\ne"} 1');
});

test("a held client and name is a gauge at 1 while held, and absent otherwise", () => {
  const m = new ServerMetrics(["web01"]);
  const held = m.render({
    ...EMPTY,
    held: [
      { client: "web01", name: "www" },
      { client: "web01", name: "docs" },
    ],
  });
  expect(held.split("\n").filter((l) => l.startsWith("hashrelay_held_archives{"))).toEqual([
    'hashrelay_held_archives{client="web01",name="docs"} 1',
    'hashrelay_held_archives{client="web01",name="www"} 1',
  ]);
  expect(m.render(EMPTY)).not.toContain("hashrelay_held_archives{");
});

test("staging, releases, refusals and quotas: how the disk is shared", () => {
  const text = new ServerMetrics(["web01", "db01"]).render({
    ...EMPTY,
    space: {
      minFreeBytes: 64 * 1024 * 1024,
      staging: [
        { client: "web01", poolBytes: 0, poolFiles: 0, uploadBytes: 4096 },
        { client: "db01", poolBytes: 1000, poolFiles: 2, uploadBytes: 0 },
      ],
      releasedBytes: 5000,
      refusals: [
        { client: "web01", code: "QUOTA", count: 2 },
        { client: "db01", code: "NO_SPACE", count: 1 },
      ],
      quotas: [{ client: "web01", quotaBytes: 1e9, usedBytes: 2e8 }],
    },
  });
  const lines = text.split("\n");
  for (const line of [
    'hashrelay_staging_bytes{client="db01"} 1000',
    'hashrelay_staging_bytes{client="web01"} 4096',
    'hashrelay_staging_abandoned_files{client="db01"} 2',
    "hashrelay_staging_released_bytes_total 5000",
    'hashrelay_space_refusals_total{client="db01",code="NO_SPACE"} 1',
    'hashrelay_space_refusals_total{client="web01",code="QUOTA"} 2',
    "hashrelay_min_free_bytes 67108864",
    'hashrelay_quota_bytes{client="web01"} 1000000000',
    'hashrelay_quota_used_bytes{client="web01"} 200000000',
  ])
    expect(lines).toContain(line);
  expect(text).not.toContain('hashrelay_staging_abandoned_files{client="web01"}');
});
