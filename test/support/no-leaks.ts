import { afterEach, expect } from "vitest";
import { openResources } from "./resources.js";

// A test that leaves a client or subscription open fails, so leaks show up where they start.
afterEach(() => {
  expect(openResources(), "resources left open by this test").toEqual([]);
});
