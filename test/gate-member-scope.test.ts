/**
 * The `member` budget scope: one user's spend and RPM/TPM across every key they created (team or
 * not), a team's default member budget (one instance per member, for that team's keys), and seeding
 * of both from the period's spend so far.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { orgGate } from "../src/durable-objects/org-gate-client";
import type { AdmitOk, AdmitResult } from "../src/durable-objects/gate-protocol";
import { createMember, createOrg, createUser, type TestOrg, type TestUser } from "./factories";
import { admitRequest, createBudgetRow, createProvider, createTeamRow, settleRequest, usageAtEstimate } from "./factories/gate";
import { createKey, type TestKey } from "./factories/keys";

/** Cost of one default admit request (1,000 in + 1,000 out of gpt-4o-mini). */
const ESTIMATE = 750;
type Denied = Extract<AdmitResult, { ok: false }>;

async function setup() {
  const owner = await createUser();
  const org = await createOrg(owner, { plan: "pro" });
  await createProvider(org, { name: "openai", isDefault: true });
  return { owner, org, gate: orgGate(env, org.id) };
}

const member = (org: TestOrg, email?: string): Promise<TestUser> => createMember(org, "member", email ? { email } : {});

/** Admits one request on `key` and settles it at its estimate. */
async function spendOnce(key: TestKey): Promise<void> {
  const gate = orgGate(env, key.orgId);
  const req = await admitRequest(key);
  const ok = (await gate.admit(req)) as AdmitOk;
  expect(ok.ok).toBe(true);
  await gate.settle(settleRequest(req, ok, usageAtEstimate(req)));
}

describe("member budgets in the gate", () => {
  it("bind one user across a team key and a no-team key: the second request is refused once the member budget is spent", async () => {
    const { org, owner, gate } = await setup();
    const alice = await member(org, `alice-${Date.now()}@example.com`);
    const team = await createTeamRow(org, "search");
    const teamKey = await createKey(org, alice, { teamId: team.id });
    const soloKey = await createKey(org, alice);
    const bobKey = await createKey(org, await member(org));
    const budgetId = await createBudgetRow(org, owner, { scope: "member", scopeId: alice.id, limitMicros: ESTIMATE + 100, period: "daily" });

    await spendOnce(teamKey);
    const denied = (await gate.admit(await admitRequest(soloKey))) as Denied;
    expect(denied.ok).toBe(false);
    expect(denied.denial).toMatchObject({
      kind: "budget_exceeded", source: "budget", scope: "member", scopeId: alice.id, budgetId, limitMicros: ESTIMATE + 100,
      spentMicros: ESTIMATE, reservedMicros: 0, label: `member '${alice.email}'`, period: "daily",
    });
    expect(((await gate.admit(await admitRequest(teamKey))) as Denied).denial).toMatchObject({ scope: "member", scopeId: alice.id });
    // Another member's key is not bound by Alice's budget.
    expect((await gate.admit(await admitRequest(bobKey))).ok).toBe(true);
  });

  it("carries RPM per member across all their keys", async () => {
    const { org, owner, gate } = await setup();
    const alice = await member(org);
    const a = await createKey(org, alice);
    const b = await createKey(org, alice);
    await createBudgetRow(org, owner, { scope: "member", scopeId: alice.id, limitMicros: null, rpm: 1, period: "daily" });
    expect((await gate.admit(await admitRequest(a))).ok).toBe(true);
    const limited = (await gate.admit(await admitRequest(b))) as Denied;
    expect(limited.denial).toMatchObject({ kind: "rate_limited", scope: "member", scopeId: alice.id, window: "rpm", limit: 1 });
  });

  it("a team's default member budget gives every member of that team's keys their own instance", async () => {
    const { org, owner, gate } = await setup();
    const team = await createTeamRow(org, "support");
    const alice = await member(org);
    const bob = await member(org);
    const aliceKey = await createKey(org, alice, { teamId: team.id });
    const bobKey = await createKey(org, bob, { teamId: team.id });
    const aliceSolo = await createKey(org, alice);
    const budgetId = await createBudgetRow(org, owner, { scope: "member", scopeId: null, teamId: team.id, limitMicros: ESTIMATE + 100, period: "monthly" });

    await spendOnce(aliceKey);
    const denied = (await gate.admit(await admitRequest(aliceKey))) as Denied;
    expect(denied.denial).toMatchObject({
      kind: "budget_exceeded", scope: "member", scopeId: alice.id, budgetId, spentMicros: ESTIMATE,
      label: `member '${alice.id}' (default member budget of team 'support')`,
    });
    // Bob has an instance of his own; Alice's key outside the team is not under the team's default.
    expect((await gate.admit(await admitRequest(bobKey))).ok).toBe(true);
    expect((await gate.admit(await admitRequest(aliceSolo))).ok).toBe(true);
    const status = await orgGate(env, org.id).budgetStatus(org.id, budgetId);
    expect(status).toMatchObject({ ok: true, instances: 2 });
  });

  it("an admin-set member budget replaces the team default for that member; a member's own cap only adds to it", async () => {
    const { org, owner, gate } = await setup();
    const team = await createTeamRow(org);
    const alice = await member(org);
    const bob = await member(org);
    const aliceKey = await createKey(org, alice, { teamId: team.id });
    const bobKey = await createKey(org, bob, { teamId: team.id });
    await createBudgetRow(org, owner, { scope: "member", scopeId: null, teamId: team.id, limitMicros: ESTIMATE + 100, period: "monthly" });
    // Bob sets himself a generous cap: the team default must still bind him.
    await createBudgetRow(org, bob, { scope: "member", scopeId: bob.id, limitMicros: 100 * ESTIMATE, period: "monthly", createdByRole: "member" });
    // An admin gives Alice more room than the team default.
    await createBudgetRow(org, owner, { scope: "member", scopeId: alice.id, limitMicros: 3 * ESTIMATE, period: "monthly", createdByRole: "admin" });

    await spendOnce(aliceKey);
    await spendOnce(aliceKey);
    await spendOnce(bobKey);
    expect(((await gate.admit(await admitRequest(bobKey))) as Denied).denial).toMatchObject({ kind: "budget_exceeded", scope: "member", scopeId: bob.id });
    expect((await gate.admit(await admitRequest(aliceKey))).ok).toBe(true);
  });

  it("new member budgets start from the period's spend so far (D1 and outbox, per member)", async () => {
    const { org, owner, gate } = await setup();
    const team = await createTeamRow(org);
    const alice = await member(org);
    const bob = await member(org);
    const aliceTeam = await createKey(org, alice, { teamId: team.id });
    const aliceSolo = await createKey(org, alice);
    const bobTeam = await createKey(org, bob, { teamId: team.id });
    await spendOnce(aliceTeam);
    await spendOnce(aliceSolo);
    await runDurableObjectAlarm(gate); // in D1
    await spendOnce(aliceTeam); // still in the outbox
    await spendOnce(bobTeam);
    expect((await gate.counters()).outbox.cost).toBe(2);

    const own = await createBudgetRow(org, owner, { scope: "member", scopeId: alice.id, limitMicros: 100 * ESTIMATE, period: "monthly" });
    const def = await createBudgetRow(org, owner, { scope: "member", scopeId: null, teamId: team.id, limitMicros: 100 * ESTIMATE, period: "monthly" });
    expect(await gate.budgetStatus(org.id, own)).toMatchObject({ spentMicros: 3 * ESTIMATE });
    // Alice has an admin-set member budget, so only Bob's team spend seeds the team default.
    expect(await gate.budgetStatus(org.id, def)).toMatchObject({ spentMicros: ESTIMATE, instances: 1 });
  });
});
