import { expect, test } from "bun:test";

test("the machine's zone is the one TZ names, else /etc/localtime's", () => {
  const zoneUnder = (tz: string | undefined) => {
    const env = { ...process.env };
    if (tz === undefined) delete env.TZ;
    else env.TZ = tz;
    const script = 'import { localTimeZone } from "./src/io/local-time-zone.ts"; console.log(localTimeZone());';
    return Bun.spawnSync([process.execPath, "-e", script], { env, cwd: `${import.meta.dir}/../..` })
      .stdout.toString()
      .trim();
  };
  expect(zoneUnder("Asia/Tokyo")).toBe("Asia/Tokyo");
  expect(zoneUnder("America/New_York")).toBe("America/New_York");
  expect(zoneUnder(undefined)).not.toBe("");
});
