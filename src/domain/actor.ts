export const PERMISSIONS = ["scaiqueue:view", "scaiqueue:publish", "scaiqueue:consume", "scaiqueue:manage"] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Who is calling: an API key of one tenant with its permissions. */
export type Actor = {
  tenantId: string;
  keyId: string;
  permissions: ReadonlySet<Permission>;
};

export const isPermission = (p: string): p is Permission => (PERMISSIONS as readonly string[]).includes(p);
