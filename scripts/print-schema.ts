// Writes schema.graphql from the Pothos schema: `npm run schema:print`.
// test/unit/schema.test.ts fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { printSchema } from "graphql";
import { schema } from "../src/schema/index.js";

export const printedSchema = () => printSchema(schema) + "\n";

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop()!)) {
  writeFileSync(new URL("../schema.graphql", import.meta.url), printedSchema());
  console.log("wrote schema.graphql");
}
