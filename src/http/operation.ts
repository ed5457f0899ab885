import {
  getOperationAST,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  type DocumentNode,
  type GraphQLInputType,
  type FieldNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "graphql";

/** What the execute and subscribe hooks see of a request: enough to look at its operation before it runs. */
export type OperationArgs = {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  variableValues?: Record<string, unknown> | null;
};

/** The operation a request runs (validation has already made sure there is one). */
export const operationOf = (a: OperationArgs): OperationDefinitionNode | null => getOperationAST(a.document, a.operationName) ?? null;

/** The operation alone with the document's fragments, for tools that take the first operation of a document. */
export function documentOf(a: OperationArgs, operation: OperationDefinitionNode): DocumentNode {
  return { ...a.document, definitions: a.document.definitions.filter((d) => d.kind !== Kind.OPERATION_DEFINITION || d === operation) };
}

/** The root fields of an operation, through its fragments; @skip / @include are not read, so both branches count. */
export function rootFieldsOf(a: OperationArgs, operation: OperationDefinitionNode): FieldNode[] {
  const fragments = new Map(a.document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
  const out: FieldNode[] = [];
  const seen = new Set<string>();
  const collect = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) out.push(s);
      else if (s.kind === Kind.INLINE_FRAGMENT) collect(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) collect(f.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return out;
}

/**
 * How many operations a request counts as for the rate limit: each root field one, or
 * as many as the items of its longest list argument (a publishBatch of 500 is 500).
 * Counted per request, one request of 30 aliased publishBatch sharing a 500-item variable
 * would be one operation and write 15,000 messages. Read from the document and the raw
 * variables, without coercing them again (execution does that).
 */
export function chargeOf(a: OperationArgs): number {
  const operation = operationOf(a);
  if (!operation) return 1;
  const root = a.schema.getRootType(operation.operation);
  const vars = a.variableValues ?? {};
  let charge = 0;
  for (const node of rootFieldsOf(a, operation)) {
    const field = root?.getFields()[node.name.value];
    let items = 1;
    for (const arg of node.arguments ?? []) {
      const type = field?.args.find((x) => x.name === arg.name.value)?.type;
      if (type) items = Math.max(items, itemsOf(type, arg.value, vars));
    }
    charge += items;
  }
  return Math.max(1, charge);
}

/** The items of the longest list an argument of this input type holds: its own, or a list field's of its input object. */
function itemsOf(type: GraphQLInputType, node: ValueNode, vars: Record<string, unknown>): number {
  const t = isNonNullType(type) ? type.ofType : type;
  if (node.kind === Kind.VARIABLE) return itemsOfValue(t, vars[node.name.value]);
  if (isListType(t)) return node.kind === Kind.LIST ? node.values.length : 1;
  if (!isInputObjectType(t) || node.kind !== Kind.OBJECT) return 0; // a JSON body's arrays are its content, not items
  const fields = t.getFields();
  return Math.max(0, ...node.fields.map((f) => (fields[f.name.value] ? itemsOf(fields[f.name.value]!.type, f.value, vars) : 0)));
}

/** The same for a variable's raw value. */
function itemsOfValue(type: GraphQLInputType, value: unknown): number {
  const t = isNonNullType(type) ? type.ofType : type;
  if (value == null) return 0;
  if (isListType(t)) return Array.isArray(value) ? value.length : 1;
  if (!isInputObjectType(t) || typeof value !== "object") return 0;
  return Math.max(0, ...Object.values(t.getFields()).map((f) => itemsOfValue(f.type, (value as Record<string, unknown>)[f.name])));
}
