import SchemaBuilder, { BasePlugin, type SchemaTypes } from "@pothos/core";
import type { GraphQLFieldResolver } from "graphql";
import type { Context } from "./context.js";
import { recordAudit } from "../domain/outcomes/audit.js";

/**
 * Writes the audit entry of every mutation that succeeds (contract §6): each Mutation
 * field's resolver is wrapped, so a mutation added later is audited without a line of
 * its own. Refused mutations (auth, validation, state) changed nothing and leave none.
 */
export class AuditPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types["Context"], object>,
    fieldConfig: Parameters<BasePlugin<Types>["wrapResolve"]>[1],
  ): GraphQLFieldResolver<unknown, Types["Context"], object> {
    if (fieldConfig.parentType !== "Mutation") return resolver;
    const action = fieldConfig.name;
    return async (parent, args, context, info) => {
      const ctx = context as unknown as Context;
      ctx.auditSubject = undefined;
      const result = await resolver(parent, args, context, info);
      if (ctx.auth.status === "ok") await recordAudit(ctx.deps, ctx.auth.actor, action, result, ctx.auditSubject, ctx.requestId);
      return result;
    };
  }
}

declare global {
  export namespace PothosSchemaTypes {
    interface Plugins<Types extends SchemaTypes> {
      audit: AuditPlugin<Types>;
    }
  }
}

SchemaBuilder.registerPlugin("audit", AuditPlugin);
