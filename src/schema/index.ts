import { builder } from "./builder.js";
import "./scalars.js";
import "./enums.js";
import "./scope.js";
import "./queue.js";
import "./message.js";
import "./events.js";
import "./api-keys.js";
import "./pipelines.js";
import "./gdpr.js";

export const schema = builder.toSchema({ sortSchema: false });
