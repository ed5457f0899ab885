import { startTestServer } from "../support/server.js";
import { concurrencySuite } from "./concurrency.suite.js";

concurrencySuite(startTestServer);
