import { builder } from "./builder.js";
import "./scalars.js";
import "./enums.js";
// queues before scopes: the order types are defined in is the order schema.graphql prints them
import "./queue.js";
import "./scope.js";
import "./message.js";
import "./events.js";
import "./api-keys.js";
import "./routing.js";
import "./message-schemas.js";
import "./hitl.js";
import "./audit.js";
import "./erasure.js";

export const schema = builder.toSchema({ sortSchema: false });
