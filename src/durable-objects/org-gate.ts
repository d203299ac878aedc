import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { timingSafeEqual } from "../lib/crypto";

/** The hot copy of one virtual key held by the org's gate. */
export type GateKey = {
  id: string;
  keyHash: string;
  teamId: string | null;
  createdBy: string;
  allowedModels: string[] | null;
  rpm: number | null;
  tpm: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
};

/** Why a key was refused. Returned, never thrown. */
export type KeyCheck = { ok: true; key: GateKey } | { ok: false; reason: "unknown" | "revoked" | "expired" | "org_deleted" };

const SCHEMA_VERSION = 1;

/**
 * One per org (named by org id). Holds the org's hot state: keys now; budgets, windows and the
 * cost-event outbox with the gateway. D1 stays the system of record; the control plane writes D1
 * first, then updates this object before it answers, so changes apply to the very next request.
 */
export class OrgGate extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => this.migrate());
  }

  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'schema_version'").toArray()[0];
    const version = row ? Number(row.v) : 0;
    if (version < 1) {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, team_id TEXT, created_by TEXT NOT NULL,
        allowed_models TEXT, rpm INTEGER, tpm INTEGER, expires_at INTEGER, revoked_at INTEGER)`);
    }
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema_version', ?)", String(SCHEMA_VERSION));
  }

  private meta(k: string): string | undefined {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0]?.v;
  }

  /** Loads the org's keys from D1 the first time this object is used (cold start after creation). */
  private async ensureLoaded(orgId: string): Promise<void> {
    if (this.meta("loaded_org")) return;
    const { results } = await this.env.DB.prepare(
      "SELECT id, key_hash, team_id, created_by, allowed_models, rpm, tpm, expires_at, revoked_at FROM api_keys WHERE org_id = ?",
    )
      .bind(orgId)
      .all<Record<string, unknown>>();
    if (this.meta("loaded_org")) return; // another call loaded it while we awaited
    this.ctx.storage.transactionSync(() => {
      for (const r of results) {
        this.sql.exec(
          "INSERT OR REPLACE INTO keys (id, key_hash, team_id, created_by, allowed_models, rpm, tpm, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?)",
          r.id as string, r.key_hash as string, (r.team_id as string | null) ?? null, r.created_by as string,
          (r.allowed_models as string | null) ?? null, (r.rpm as number | null) ?? null, (r.tpm as number | null) ?? null,
          (r.expires_at as number | null) ?? null, (r.revoked_at as number | null) ?? null,
        );
      }
      this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('loaded_org', ?)", orgId);
    });
  }

  private readKey(keyId: string): GateKey | undefined {
    const r = this.sql.exec<Record<string, string | number | null>>("SELECT * FROM keys WHERE id = ?", keyId).toArray()[0];
    if (!r) return undefined;
    return {
      id: r.id as string,
      keyHash: r.key_hash as string,
      teamId: r.team_id as string | null,
      createdBy: r.created_by as string,
      allowedModels: r.allowed_models ? (JSON.parse(r.allowed_models as string) as string[]) : null,
      rpm: r.rpm as number | null,
      tpm: r.tpm as number | null,
      expiresAt: r.expires_at as number | null,
      revokedAt: r.revoked_at as number | null,
    };
  }

  /** Verifies a presented key (hash compared in constant time, status, expiry). */
  async verifyKey(orgId: string, keyId: string, keyHash: string, now = Date.now()): Promise<KeyCheck> {
    await this.ensureLoaded(orgId);
    if (this.meta("deleted_at")) return { ok: false, reason: "org_deleted" };
    const key = this.readKey(keyId);
    if (!key || !timingSafeEqual(key.keyHash, keyHash)) return { ok: false, reason: "unknown" };
    if (key.revokedAt !== null) return { ok: false, reason: "revoked" };
    if (key.expiresAt !== null && key.expiresAt <= now) return { ok: false, reason: "expired" };
    return { ok: true, key };
  }

  /** Inserts or replaces the hot copy of a key (create, update, revoke all go through here). */
  async syncKey(orgId: string, key: GateKey): Promise<void> {
    await this.ensureLoaded(orgId);
    this.sql.exec(
      "INSERT OR REPLACE INTO keys (id, key_hash, team_id, created_by, allowed_models, rpm, tpm, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?)",
      key.id, key.keyHash, key.teamId, key.createdBy, key.allowedModels ? JSON.stringify(key.allowedModels) : null,
      key.rpm, key.tpm, key.expiresAt, key.revokedAt,
    );
  }

  /** Marks keys revoked at once (member removal, bulk revoke). */
  async revokeKeys(orgId: string, keyIds: string[], at = Date.now()): Promise<void> {
    await this.ensureLoaded(orgId);
    this.ctx.storage.transactionSync(() => {
      for (const id of keyIds) this.sql.exec("UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", at, id);
    });
  }

  /**
   * Reloads parts of the hot copy from D1 after a control-plane change (keys, providers, budgets,
   * pricing overrides, org plan/settings). Called by the control plane before it answers.
   */
  async refresh(orgId: string, parts: Array<"keys" | "providers" | "budgets" | "pricing" | "org">): Promise<void> {
    if (parts.includes("keys")) {
      this.sql.exec("DELETE FROM meta WHERE k = 'loaded_org'");
      this.sql.exec("DELETE FROM keys");
    }
    await this.ensureLoaded(orgId);
  }

  /** The org was deleted: refuse every key from now on, and drop the hot state. */
  async deleteOrg(orgId: string, at = Date.now()): Promise<void> {
    await this.ensureLoaded(orgId);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM keys");
      this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('deleted_at', ?)", String(at));
    });
  }
}
