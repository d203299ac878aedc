import { z } from "@hono/zod-openapi";
import { ApiError } from "../errors";

/**
 * Keyset pagination for lists ordered newest first by `(created_at DESC, id DESC)`.
 * The cursor is opaque to clients: base64url of `createdAt:id` of the last row returned.
 */
export type PageCursor = { createdAt: number; id: string };

/** `?cursor=&limit=` query parameters shared by list routes (limit 1–200, default 50). */
export const pageQuerySchema = z.object({
  cursor: z.string().max(200).optional().openapi({ description: "`next_cursor` of the previous page" }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Encodes the position after `row`. */
export function encodeCursor(row: PageCursor): string {
  return btoa(`${row.createdAt}:${row.id}`).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes a cursor from the query string; a malformed one is a 400 naming `cursor`. */
export function decodeCursor(cursor: string | undefined): PageCursor | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  try {
    const text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const i = text.indexOf(":");
    const createdAt = Number(text.slice(0, i));
    const id = text.slice(i + 1);
    if (i > 0 && Number.isSafeInteger(createdAt) && /^[a-z]+_[0-9A-Za-z]+$/.test(id)) return { createdAt, id };
  } catch {
    /* fall through */
  }
  throw new ApiError("invalid_request", "cursor: malformed cursor (pass next_cursor back unchanged)", { param: "cursor" });
}

/** Cuts a page fetched with `limit + 1` rows into `{ data, next_cursor }`. */
export function toPage<R extends { createdAt: number; id: string }, O>(rows: R[], limit: number, present: (row: R) => O) {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page.map(present), next_cursor: rows.length > limit && last ? encodeCursor(last) : null };
}
