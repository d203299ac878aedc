import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import * as schema from "./schema";

/** The Drizzle handle. Only the query modules in `src/db/` use it directly. */
export type Db = DrizzleD1Database<typeof schema>;

/** Wraps the D1 binding in Drizzle. Cheap: no I/O. */
export function getDb(d1: D1Database): Db {
  return drizzle(d1, { schema });
}
