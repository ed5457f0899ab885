const open = new Map<object, { label: string; close: () => unknown }>();

/** Marks something a test must close before it ends (see no-leaks.ts). */
export function track<T extends object>(resource: T, label: string, close: () => unknown): T {
  open.set(resource, { label, close });
  return resource;
}

export function untrack(resource: object): void {
  open.delete(resource);
}

/** Closes whatever is still open and returns its labels, so one leak fails one test only. */
export async function closeLeftovers(): Promise<string[]> {
  const left = [...open.values()];
  open.clear();
  for (const r of left) await r.close();
  return left.map((r) => r.label);
}
