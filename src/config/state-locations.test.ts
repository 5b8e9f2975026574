import { expect, test } from "bun:test";
import { stateLocations } from "./state-locations.ts";

test("reads client.state and server.storage from a file that does not validate, with defaults and relative paths", () => {
  const text = "version: 2\nclient:\n  schedule: every 3 weeks\n  state: ./st\nserver:\n  colour: blue\n";
  expect(stateLocations(text, "/etc/hashrelay/hashrelay.yaml")).toEqual({
    clientState: "/etc/hashrelay/st",
    serverStorage: "/home/HashRelay-server/backup",
  });
  expect(stateLocations("client: {}\n", "/x/c.yaml")).toEqual({ clientState: "/x/state" });
});

test("broken YAML or a file that is no mapping gives nothing", () => {
  expect(stateLocations("client: [", "/x/c.yaml")).toEqual({});
  expect(stateLocations("- a\n- b\n", "/x/c.yaml")).toEqual({});
});
