import { describe, expect, test } from "bun:test";
import { keepSections, withSection } from "./results-sections.ts";

describe("RESULTS.md sections", () => {
  test("a section is appended once, then replaced in place", () => {
    const once = withSection("# Results\n\nbody\n", "server-writes", "## Big sources\n\nfirst");
    expect(once).toBe("# Results\n\nbody\n\n<!-- server-writes:begin -->\n## Big sources\n\nfirst\n<!-- server-writes:end -->\n");
    const twice = withSection(`${once}\ntail\n`, "server-writes", "second");
    expect(twice).toBe("# Results\n\nbody\n\n<!-- server-writes:begin -->\nsecond\n<!-- server-writes:end -->\n\ntail\n");
  });

  test("a bench run's fresh file keeps every marked section of the old one, and nothing else of it", () => {
    const old = withSection(withSection("# old run\n", "a", "section a"), "b", "section b");
    const fresh = keepSections(old, "# new run\n");
    expect(fresh).toContain("# new run");
    expect(fresh).not.toContain("# old run");
    expect(fresh.indexOf("section a")).toBeLessThan(fresh.indexOf("section b"));
    expect(keepSections(fresh, "# newer run\n")).toBe(fresh.replace("# new run", "# newer run"));
  });
});
