import { z } from "@hono/zod-openapi";
import { ApiError } from "../errors";

/** `?cursor=&limit=` of every list endpoint. */
export const pageQuery = z.object({
  cursor: z.string().max(512).optional().openapi({ description: "Opaque cursor from the previous page's next_cursor" }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Keyset position: the (created_at, id) of the last row of the previous page. */
export type PagePosition = { at: number; id: string };

/** Encodes the position after `row` as an opaque cursor. */
export function encodeCursor(pos: PagePosition): string {
  return btoa(JSON.stringify([pos.at, pos.id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes a cursor; a malformed one is a 400 naming `cursor`, never a 500. */
export function decodeCursor(cursor: string | undefined): PagePosition | undefined {
  if (!cursor) return undefined;
  try {
    const json = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const v: unknown = JSON.parse(json);
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === "string") return { at: v[0] as number, id: v[1] };
  } catch {
    /* fall through */
  }
  throw new ApiError("invalid_request", "cursor is malformed; pass the next_cursor of the previous page", { param: "cursor" });
}

/** Cuts a `limit + 1` fetch into a page and its next cursor. */
export function toPage<T>(rows: T[], limit: number, positionOf: (row: T) => PagePosition): { data: T[]; next_cursor: string | null } {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return { data, next_cursor: rows.length > limit && last ? encodeCursor(positionOf(last)) : null };
}
