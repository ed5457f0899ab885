import { randomBytes } from "node:crypto";
import { describe, expect, test } from "../support/domain.js";
import { PERMISSIONS } from "../../src/domain/actor.js";
import { ApiKeyVerifier, createApiKey, hashSecret } from "../../src/domain/api-keys/keys.js";

/*
 * The API key verifier on the deps' database, without HTTP (moved here from
 * tenant-limits.api.test.ts, where its over-HTTP half stays: "13. unknown secrets from
 * one address are throttled past AUTH_FAILURE_BURST").
 */

describe("13. unknown secrets are throttled per address and never evict real keys", () => {
  test("the verifier keeps a real key through 10,001 unknown secrets and looks it up no more", async ({ deps }) => {
    const { secret } = await createApiKey(deps.db, "default", [...PERMISSIONS]);
    let now = Date.now();
    const verifier = new ApiKeyVerifier(deps.db, () => now);
    expect(await verifier.verify(secret)).toMatchObject({ secretHash: hashSecret(secret) });
    for (let i = 0; i < 10_001; i++) expect(await verifier.verify(`sqk_${randomBytes(30).toString("base64url")}`)).toBeNull();
    let lookups = 0;
    const spy = deps.db.apiKey.findMany;
    deps.db.apiKey.findMany = ((...a: Parameters<typeof spy>) => (lookups++, spy(...a))) as typeof spy;
    try {
      expect(await verifier.verify(secret)).toMatchObject({ secretHash: hashSecret(secret) });
      expect(lookups).toBe(0);
      now += 2000; // stale: looked up again, even while its address is throttled
      expect(await verifier.verify(secret, { mayLookUp: () => false, notFound: () => {} })).toMatchObject({ secretHash: hashSecret(secret) });
      expect(lookups).toBe(1);
    } finally {
      deps.db.apiKey.findMany = spy;
    }
  }, 60_000);
});
