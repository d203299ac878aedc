/** Reads of the local email outbox (written by `services/mailer.ts`). Not org-owned. */
import { and, desc, eq, lt, or } from "drizzle-orm";
import type { Db } from "./client";
import { emailOutbox } from "./schema";

/** Cursor position: the last row of the previous page (newest first). */
export type OutboxCursor = { createdAt: number; id: string };

/** One page of outbox emails, newest first, optionally only those to `to` (normalised address). */
export async function listOutbox(db: Db, opts: { to?: string; limit: number; after?: OutboxCursor }) {
  const page = opts.after
    ? or(lt(emailOutbox.createdAt, opts.after.createdAt), and(eq(emailOutbox.createdAt, opts.after.createdAt), lt(emailOutbox.id, opts.after.id)))
    : undefined;
  return db
    .select()
    .from(emailOutbox)
    .where(and(opts.to ? eq(emailOutbox.toAddress, opts.to) : undefined, page))
    .orderBy(desc(emailOutbox.createdAt), desc(emailOutbox.id))
    .limit(opts.limit);
}
