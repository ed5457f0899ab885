const open = new Map<object, string>();

/** Marks something a test must close before it ends (see no-leaks.ts). */
export function track<T extends object>(resource: T, label: string): T {
  open.set(resource, label);
  return resource;
}

export function untrack(resource: object): void {
  open.delete(resource);
}

export const openResources = (): string[] => [...open.values()];
