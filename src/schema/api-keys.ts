import type { ApiKey as ApiKeyRow } from "../generated/prisma/client.js";
import type { EffectiveRateLimit, IssuedApiKey } from "../domain/api-keys/lifecycle.js";
import { actorOf } from "./context.js";
import { builder } from "./builder.js";

const RateLimitRef = builder.objectRef<EffectiveRateLimit>("RateLimit");
RateLimitRef.implement({
  description: "How many operations a key may run: perSecond on average (0 = unlimited), burst at once after a quiet spell.",
  fields: (t) => ({
    perSecond: t.exposeFloat("perSecond"),
    burst: t.exposeInt("burst"),
    isDefault: t.exposeBoolean("isDefault", { description: "The deployment's default (RATE_LIMIT_KEY_PER_S / _BURST), not the key's own." }),
  }),
});

export const ApiKeyRef = builder.objectRef<ApiKeyRow>("ApiKey");
ApiKeyRef.implement({
  description: "An API key of the caller's tenant. Its secret is shown only by createApiKey and rotateApiKey.",
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name", { nullable: true }),
    permissions: t.stringList({ resolve: (k) => k.permissions.split(",") }),
    rateLimit: t.field({ type: RateLimitRef, resolve: (k, _a, ctx) => ctx.apiKeys.rateLimitOf(k) }),
    createdAt: t.field({ type: "DateTime", resolve: (k) => k.createdAt }),
    rotatedAt: t.field({ type: "DateTime", nullable: true, resolve: (k) => k.rotatedAt }),
    previousSecretExpiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "Until then the secret before the last rotation still works; null when it stopped at once.",
      resolve: (k) => k.previousSecretExpiresAt,
    }),
    revokedAt: t.field({ type: "DateTime", nullable: true, resolve: (k) => k.revokedAt }),
  }),
});

const IssuedApiKeyRef = builder.objectRef<IssuedApiKey>("IssuedApiKey");
IssuedApiKeyRef.implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (i) => i.apiKey }),
    secret: t.exposeString("secret", { description: "Shown this once; only its SHA-256 is stored." }),
  }),
});

const RateLimitInput = builder.inputType("RateLimitInput", {
  fields: (t) => ({
    perSecond: t.float({ required: true, description: "0 = unlimited (the tenant's limit still applies)" }),
    burst: t.int({ description: "default: one second's worth, at least 1" }),
  }),
});

const CreateApiKeyInput = builder.inputType("CreateApiKeyInput", {
  fields: (t) => ({
    name: t.string(),
    permissions: t.stringList({ required: true, description: "a subset of the caller's own permissions" }),
    rateLimit: t.field({ type: RateLimitInput, description: "null or omitted: the deployment default" }),
  }),
});

const UpdateApiKeyInput = builder.inputType("UpdateApiKeyInput", {
  description: "Omitted fields stay as they are; null clears the name or goes back to the default rate limit.",
  fields: (t) => ({
    name: t.string(),
    rateLimit: t.field({ type: RateLimitInput }),
  }),
});

builder.queryFields((t) => ({
  // Keys are credentials: seeing them is managing them, so listing needs manage, not view.
  apiKeys: t.field({
    type: [ApiKeyRef],
    authScopes: { canManage: true },
    description: "Every key of the caller's tenant, revoked ones included, oldest first.",
    resolve: (_r, _a, ctx) => ctx.apiKeys.list(actorOf(ctx).tenantId),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: IssuedApiKeyRef,
    authScopes: { canManage: true },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: (_r, a, ctx) => ctx.apiKeys.create(actorOf(ctx).tenantId, actorOf(ctx).permissions, a.input),
  }),
  updateApiKey: t.field({
    type: ApiKeyRef,
    authScopes: { canManage: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateApiKeyInput, required: true }) },
    resolve: (_r, a, ctx) => ctx.apiKeys.update(actorOf(ctx).tenantId, actorOf(ctx).permissions, String(a.id), a.input),
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    authScopes: { canManage: true },
    description: "Every process refuses the key within a second; its open WebSocket connections are closed (4403, AUTH_TOKEN_INVALID).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, a, ctx) => ctx.apiKeys.revoke(actorOf(ctx).tenantId, actorOf(ctx).permissions, String(a.id)),
  }),
  rotateApiKey: t.field({
    type: IssuedApiKeyRef,
    authScopes: { canManage: true },
    description: "A new secret for the same key; the old one keeps working for graceS seconds (0: stops at once).",
    args: { id: t.arg.id({ required: true }), graceS: t.arg.int({ defaultValue: 0 }) },
    resolve: (_r, a, ctx) => ctx.apiKeys.rotate(actorOf(ctx).tenantId, actorOf(ctx).permissions, String(a.id), a.graceS),
  }),
}));
