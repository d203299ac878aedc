import { z } from "@hono/zod-openapi";
import { toPage } from "./page-cursor";

/** OpenAPI response entry with a JSON body. */
export function jsonResponse<S extends z.ZodType>(schema: S, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** OpenAPI request body entry (required JSON). */
export function jsonBody<S extends z.ZodType>(schema: S) {
  return { required: true, content: { "application/json": { schema } } };
}

/** ms since epoch → ISO-8601 (null stays null). */
export function isoTime<T extends number | null>(ms: T): T extends number ? string : string | null {
  return (ms === null ? null : new Date(ms).toISOString()) as T extends number ? string : string | null;
}

/** The `:orgId` path parameter shared by every org-owned route. */
export const orgParams = z.object({ orgId: z.string().openapi({ param: { name: "orgId", in: "path" }, example: "org_3hK9cQ2mZpL8xW1a" }) });

/** A `limit + 1` fetch ordered by `(created_at DESC, id DESC)` → `{ data, next_cursor }` with each row presented. */
export function presentPage<R extends { createdAt: number; id: string }, O>(rows: R[], limit: number, present: (row: R) => O) {
  const page = toPage(rows, limit, (r) => ({ at: r.createdAt, id: r.id }));
  return { data: page.data.map(present), next_cursor: page.next_cursor };
}

/** Messages of an error and its `cause` chain (Drizzle wraps D1's constraint errors), for matching constraint names. */
export function errorChainText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) parts.push(e instanceof Error ? e.message : String(e));
  return parts.join(" | ");
}
