import { startTestServer } from "../support/server.js";
import { quickstartSuite } from "./quickstart.suite.js";

quickstartSuite(() => startTestServer());
