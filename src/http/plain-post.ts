import type { IncomingMessage, ServerResponse } from "node:http";
import { processRegularResult, type GraphQLParams } from "graphql-yoga";
import type { ServerContext, Yoga } from "./yoga.js";

/** Yoga's answer as processRegularResult builds it, kept as given instead of as a Fetch API Response. */
class PlainResponse {
  constructor(
    readonly body: string | null,
    readonly init: { status?: number; headers?: Record<string, string> },
  ) {}
}
const PLAIN_FETCH_API = { Response: PlainResponse } as unknown as Parameters<typeof processRegularResult>[1];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A POST whose answer is plain JSON and needs nothing of HTTP beyond it: a JSON body
 * of one operation with only `query`, `variables` and `operationName`, no subscription,
 * no Origin (so no CORS), and an Accept that Yoga answers with application/json. Any
 * other request goes through Yoga whole.
 */
export function isPlainPost(req: IncomingMessage, body: unknown): body is GraphQLParams {
  if (req.method !== "POST" || req.headers.origin !== undefined) return false;
  const accept = req.headers.accept;
  if (accept !== undefined && !/^\s*(\*\/\*|application\/json)\s*(;\s*charset=utf-8\s*)?$/i.test(accept)) return false;
  if (!isObject(body)) return false;
  for (const k in body) if (k !== "query" && k !== "variables" && k !== "operationName") return false;
  const { query, variables, operationName } = body;
  // a document naming a subscription anywhere may stream (SSE): Yoga's to answer
  return (
    typeof query === "string" &&
    !query.includes("subscription") &&
    (variables == null || isObject(variables)) &&
    (operationName == null || typeof operationName === "string")
  );
}

/**
 * Answers a plain POST (isPlainPost) with Yoga's own steps for its parameters
 * (`getResultForParams`: the same envelop, plugins, masking and error logging) and its
 * own result processing (`processRegularResult`: status, headers, body), leaving out
 * only the Fetch API Request and Response Yoga would build around them on Node. That
 * wrapping costs about as much as a small operation: `{ __typename }` over HTTP is 145 µs
 * of server CPU without it, 201 µs with it (`bench:ops --transport http --only typename
 * --calls 20000`); leaving it out saves 13% of server CPU per message in benchmark
 * scenario 2 over HTTP (437 / 428 against 411 / 394 msg/s, two interleaved pairs,
 * --scale 0.3). Returns false, having done nothing, when Yoga refuses the parameters
 * before running anything: Yoga answers those itself.
 */
export async function answerPlainPost(
  yoga: Yoga,
  req: IncomingMessage & { requestId?: string },
  res: ServerResponse,
  params: GraphQLParams,
): Promise<boolean> {
  const request = { method: "POST", url: req.url, headers: new Headers() } as unknown as Request;
  let result;
  try {
    result = await yoga.getResultForParams({ params, request }, { req } as ServerContext);
  } catch {
    return false; // only parameter checks throw; execution errors come back as results
  }
  if (!result) return false; // no onParams hook of ours answers by itself
  const answer = processRegularResult(result, PLAIN_FETCH_API, "application/json") as unknown as PlainResponse;
  res.writeHead(answer.init.status ?? 200, answer.init.headers);
  res.end(answer.body ?? undefined);
  return true;
}
