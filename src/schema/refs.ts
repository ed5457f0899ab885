import type { Queue, Scope } from "../generated/prisma/client.js";
import { builder } from "./builder.js";

/** Types whose files point at each other (a scope lists its queues, a queue names its scope), declared once here. */
export const ScopeRef = builder.objectRef<Scope>("Scope");
export const QueueRef = builder.objectRef<Queue>("Queue");
