import { afterEach, expect } from "vitest";
import { closeLeftovers } from "./resources.js";

// A test that leaves a client or subscription open fails, so leaks show up where they start.
afterEach(async () => {
  expect(await closeLeftovers(), "resources left open by this test").toEqual([]);
});
