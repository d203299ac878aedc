/**
 * One per org (named by org id): the webhook delivery engine. Its alarm sends the org's due deliveries
 * (src/services/webhook-delivery.ts) and re-arms for the next one; D1 holds the queue, so an evicted or
 * restarted object loses nothing. Why a Durable Object alarm and not Queues: docs/webhooks.md.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { deliverDue } from "../services/webhook-delivery";

export class WebhookDispatcher extends DurableObject<Env> {
  /** Remembers the org and arms the alarm now (new deliveries are due at once). */
  async kick(orgId: string): Promise<void> {
    await this.ctx.storage.put("org_id", orgId);
    await this.armAt(Date.now());
  }

  private async armAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    const orgId = await this.ctx.storage.get<string>("org_id");
    if (!orgId) return;
    const next = await deliverDue(this.env, orgId, Date.now());
    if (next !== null) await this.armAt(next);
  }
}
