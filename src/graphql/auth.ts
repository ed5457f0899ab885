import type { ApiKeyVerifier } from "../domain/api-keys.js";
import type { Auth } from "./context.js";

/** `Bearer <secret>` (HTTP header, or connectionParams.authorization) or a bare apiKey. */
export function secretFrom(authorization: unknown, apiKey?: unknown): string | null {
  if (typeof authorization === "string" && authorization.trim()) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    return m ? m[1]! : authorization.trim();
  }
  if (typeof apiKey === "string" && apiKey.trim()) return apiKey.trim();
  return null;
}

export async function authenticate(verifier: ApiKeyVerifier, secret: string | null): Promise<Auth> {
  if (!secret) return { status: "missing" };
  const key = await verifier.verify(secret);
  return key ? { status: "ok", ...key } : { status: "invalid" };
}
