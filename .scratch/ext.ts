import { schema } from "../src/schema/index.js";
const f = schema.getQueryType()!.getFields().messages!;
console.log(Object.keys(f.extensions ?? {}), (f.extensions as any).pothosOptions?.authScopes);
const q = (schema.getType("Queue") as any).getFields().depth;
console.log(Object.keys(q.extensions ?? {}));
