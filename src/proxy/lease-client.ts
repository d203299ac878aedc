/**
 * The isolate's side of leases (docs/budgets.md "Leases"). One instance per isolate (the module
 * singleton {@link leaseClient}); tests create several to stand for several isolates.
 *
 * For an org in `lease` mode, a request whose key, model and attribution match a lease this isolate
 * holds is admitted here, with no round trip: the lease must still be within its TTL and have room
 * for the request's reservation (estimated by the same rules as the gate). Otherwise one `lease`
 * call asks the gate for a new lease (or gets the exact admission near a limit). Everything the
 * gate must learn — requests admitted from leases, settles, releases, leases given back — is queued
 * and sent in one `lease` call every {@link FLUSH_INTERVAL_MS} or {@link FLUSH_MAX_REPORTS} reports,
 * whichever comes first; a settle's promise (awaited by the request's `waitUntil`) resolves when the
 * call carrying it has returned. Calls to one org's gate leave this isolate one at a time, so the gate
 * applies reports in the order they happened.
 *
 * Orgs in `strict` mode (the default) use today's per-request `admit`, `settle` and `release`; the
 * gate's `admit` answer tells the isolate when an org switched to leases.
 */
import { randomBase62 } from "../lib/encoding";
import { costOfEstimate } from "../pricing/cost";
import {
  LEASE_TTL_MS,
  RESERVATION_TTL_MS,
  reservedOutputTokens,
  type AdmissionMode,
  type AdmitOk,
  type AdmitRequest,
  type AdmitResult,
  type LeaseAdmission,
  type LeaseAnswer,
  type LeaseGrant,
  type LeaseNeed,
  type LeaseReport,
  type LeaseResult,
  type ReleaseRequest,
  type SettleRequest,
} from "../durable-objects/gate-protocol";
import { gateAdmit, gateLease, gateRelease, gateSettle, isGateUnavailable, type GateUnavailable } from "../durable-objects/org-gate-client";
import type { Env } from "../env";

/** Longest a report waits in the isolate before it is sent. */
export const FLUSH_INTERVAL_MS = 10;
/** Reports that trigger a send at once. */
export const FLUSH_MAX_REPORTS = 64;
/** Tries to admit from a lease before the last one, which asks for the exact admission. */
const MAX_ATTEMPTS = 6;
/** A lease asks for room for at least this many requests. */
const MIN_WANT = 4;

type GateEnv = Pick<Env, "ORG_GATE">;

type Slot = {
  grant: LeaseGrant;
  micros: number;
  tokens: number;
  requests: number;
  /** Local admissions so far (sizes the next lease). */
  used: number;
  receivedAt: number;
};

type Queued = { report: LeaseReport; done: () => void };
type NeedWaiter = { need: LeaseNeed; done: (a: LeaseAnswer | GateUnavailable) => void };

type OrgState = {
  orgId: string;
  env: GateEnv;
  mode: AdmissionMode;
  slots: Map<string, Slot>;
  /** Lease requests in flight, per signature: concurrent misses wait for it instead of asking again. */
  asking: Map<string, Promise<unknown>>;
  waiting: Map<string, number>;
  /**
   * Signatures the gate last answered with an exact admission (near a limit), until when: their
   * requests go straight into the next call, all together, instead of queueing behind one another.
   */
  exactUntil: Map<string, number>;
  /** Admissions per signature in the last lease: the recent rate. */
  rate: Map<string, number>;
  queue: Queued[];
  /** Admissions still in the queue, by reservation id (a settle before the flush replaces its report). */
  unsent: Map<string, Queued>;
  needs: NeedWaiter[];
  sending: Promise<void> | null;
  timer: ReturnType<typeof setTimeout> | null;
};

/** The key, model and attribution a lease was granted for: requests with the same signature may use it. */
function signatureOf(req: AdmitRequest): string | null {
  if (req.unbounded || req.alias !== undefined) return null;
  const tags = Object.entries(req.attribution.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([req.keyId, req.keyHash, req.model, req.byok === true, req.attribution.customerId, tags]);
}

export type LeaseClientOptions = { flushIntervalMs?: number; flushMaxReports?: number; now?: () => number };

/** See the file comment. */
export class LeaseClient {
  private readonly orgs = new Map<string, OrgState>();
  private readonly flushIntervalMs: number;
  private readonly flushMaxReports: number;
  private readonly now: () => number;
  /** Round trips to the gate made by this client (bench and tests). */
  rpcs = 0;

  constructor(opts: LeaseClientOptions = {}) {
    this.flushIntervalMs = opts.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    this.flushMaxReports = opts.flushMaxReports ?? FLUSH_MAX_REPORTS;
    this.now = opts.now ?? Date.now;
  }

  private state(env: GateEnv, orgId: string): OrgState {
    let s = this.orgs.get(orgId);
    if (!s) {
      s = { orgId, env, mode: "strict", slots: new Map(), asking: new Map(), waiting: new Map(), exactUntil: new Map(), rate: new Map(), queue: [], unsent: new Map(), needs: [], sending: null, timer: null };
      this.orgs.set(orgId, s);
    }
    s.env = env;
    return s;
  }

  /** Admits a request: locally from a lease, else through the gate. Denials are returned. */
  async admit(env: GateEnv, req: AdmitRequest): Promise<AdmitResult | GateUnavailable> {
    const s = this.state(env, req.orgId);
    if (s.mode !== "lease") {
      this.rpcs++;
      const r = await gateAdmit(env, req);
      if (!isGateUnavailable(r) && r.ok && r.admission === "lease") s.mode = "lease";
      return r;
    }
    const sig = signatureOf(req);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (sig !== null) {
        const local = this.tryLocal(s, sig, req);
        if (local) return local;
        const asking = (s.exactUntil.get(sig) ?? 0) > this.now() ? undefined : s.asking.get(sig);
        if (asking) {
          s.waiting.set(sig, (s.waiting.get(sig) ?? 0) + 1);
          await asking;
          s.waiting.set(sig, (s.waiting.get(sig) ?? 1) - 1);
          continue;
        }
      }
      const want = sig === null || attempt === MAX_ATTEMPTS - 1 ? 0 : Math.max(MIN_WANT, 2 * (s.rate.get(sig) ?? 0), (s.waiting.get(sig) ?? 0) + 1);
      const old = sig === null ? undefined : s.slots.get(sig);
      if (sig !== null && old) this.dropSlot(s, sig, old);
      const asked = this.ask(s, { req, want });
      if (sig !== null) s.asking.set(sig, asked);
      const answer = await asked.finally(() => {
        if (sig !== null && s.asking.get(sig) === asked) s.asking.delete(sig);
      });
      if (isGateUnavailable(answer)) return answer;
      if (answer.kind === "exact") {
        if (sig !== null) s.exactUntil.set(sig, this.now() + LEASE_TTL_MS);
        return answer.result;
      }
      if (sig !== null) s.exactUntil.delete(sig);
      if (sig === null) break;
      s.slots.set(sig, { grant: answer.grant, micros: answer.grant.micros, tokens: answer.grant.tokens, requests: answer.grant.requests, used: 0, receivedAt: this.now() });
    }
    // Unreachable: the last attempt asks for an exact admission (want 0).
    return { ok: false, reason: "unavailable", overloaded: false, message: "lease admission did not converge" };
  }

  /** Settles through the org's batch when it uses leases, else with today's `settle` call. */
  async settle(env: GateEnv, req: SettleRequest): Promise<void> {
    const s = this.state(env, req.orgId);
    const unsent = s.unsent.get(req.reservationId);
    if (s.mode !== "lease" && !unsent) {
      this.rpcs++;
      const r = await gateSettle(env, req);
      if (isGateUnavailable(r)) console.error("gate settle failed; the reservation will expire", req.reservationId, r.overloaded ? "overloaded" : r.message);
      return;
    }
    await this.report(s, { kind: "settle", req }, req.reservationId);
  }

  /** Releases through the org's batch when it uses leases, else with today's `release` call. */
  async release(env: GateEnv, req: ReleaseRequest): Promise<void> {
    const s = this.state(env, req.orgId);
    const unsent = s.unsent.get(req.reservationId);
    if (s.mode !== "lease" && !unsent) {
      this.rpcs++;
      const r = await gateRelease(env, req);
      if (isGateUnavailable(r)) console.error("gate release failed; the reservation will expire", req.reservationId, r.overloaded ? "overloaded" : r.message);
      return;
    }
    await this.report(s, { kind: "release", req }, req.reservationId);
  }

  /** Sends everything queued for every org now (tests; an isolate's own flushes are timed). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.orgs.values()].map((s) => this.send(s)));
  }

  /** Forgets every lease without giving it back: an isolate that died (tests). */
  abandon(): void {
    for (const s of this.orgs.values()) if (s.timer) clearTimeout(s.timer);
    this.orgs.clear();
  }

  /** Admits from this isolate's lease for `sig` when it is within its TTL and the request fits. */
  private tryLocal(s: OrgState, sig: string, req: AdmitRequest): AdmitOk | null {
    const slot = s.slots.get(sig);
    if (!slot) return null;
    const now = this.now();
    const g = slot.grant;
    // The gate's expiry, and the TTL by this isolate's clock: whichever comes first.
    if (now >= g.expiresAt || now >= slot.receivedAt + LEASE_TTL_MS) {
      this.dropSlot(s, sig, slot);
      return null;
    }
    const price = g.template.price;
    const inputTokens = Math.max(0, Math.ceil(req.estimate.inputTokens));
    const outputTokens = reservedOutputTokens(price, Math.max(0, Math.ceil(req.estimate.outputTokens)), req.outputCapFromModel === true, req.choices);
    const micros = costOfEstimate(inputTokens, outputTokens, price);
    const tokens = inputTokens + outputTokens;
    if (slot.requests < 1 || slot.micros < micros || slot.tokens < tokens) return null;
    slot.requests--;
    slot.micros -= micros;
    slot.tokens -= tokens;
    slot.used++;
    const reservationId = `rsv_${randomBase62(16)}`;
    const t = g.template;
    const admission: LeaseAdmission = {
      leaseId: g.leaseId, reservationId, requestId: req.requestId, at: now, micros, tokens, price,
      context: {
        keyId: t.keyId, teamId: t.teamId, endpoint: req.endpoint, providerName: t.route.providerName, model: t.route.upstreamModel,
        attribution: req.attribution, inputTokens, outputTokens,
      },
    };
    const q: Queued = { report: { kind: "admitted", admission }, done: () => undefined };
    s.unsent.set(reservationId, q);
    this.enqueue(s, q);
    const rl = g.rateLimit;
    const elapsed = now - slot.receivedAt;
    return {
      ...t, reservationId, reservationExpiresAt: now + RESERVATION_TTL_MS, reservedMicros: micros,
      rateLimit: rl && {
        ...rl,
        remainingRequests: rl.limitRequests ? rl.remainingRequests + slot.requests : 0,
        remainingTokens: rl.limitTokens ? rl.remainingTokens + slot.tokens : 0,
        resetRequestsMs: Math.max(0, rl.resetRequestsMs - elapsed),
        resetTokensMs: Math.max(0, rl.resetTokensMs - elapsed),
      },
    };
  }

  /** Forgets a lease and queues its return (after any admission from it already queued). */
  private dropSlot(s: OrgState, sig: string, slot: Slot): void {
    if (s.slots.get(sig) === slot) s.slots.delete(sig);
    s.rate.set(sig, slot.used);
    this.enqueue(s, { report: { kind: "close", leaseId: slot.grant.leaseId }, done: () => undefined });
  }

  /** Queues a settle/release; it replaces the queued admission of the same request, if any. */
  private report(s: OrgState, report: Extract<LeaseReport, { kind: "settle" | "release" }>, reservationId: string): Promise<void> {
    return new Promise<void>((done) => {
      const unsent = s.unsent.get(reservationId);
      if (unsent && unsent.report.kind === "admitted") {
        // Admitted and finished within one flush: one report, and the gate keeps no reservation row for it.
        const admission = unsent.report.admission;
        s.unsent.delete(reservationId);
        unsent.report = { ...report, admission };
        unsent.done = done;
        this.kick(s);
        return;
      }
      this.enqueue(s, { report, done });
    });
  }

  private enqueue(s: OrgState, q: Queued): void {
    s.queue.push(q);
    this.kick(s);
  }

  /** Sends at once when enough is queued, else within the flush interval. */
  private kick(s: OrgState): void {
    if (s.queue.length >= this.flushMaxReports) {
      void this.send(s);
      return;
    }
    s.timer ??= setTimeout(() => {
      s.timer = null;
      void this.send(s);
    }, this.flushIntervalMs);
  }

  /** Asks the gate for a lease (or the exact admission) in the next call, which also carries the queue. */
  private ask(s: OrgState, need: LeaseNeed): Promise<LeaseAnswer | GateUnavailable> {
    return new Promise((done) => {
      s.needs.push({ need, done });
      void this.send(s);
    });
  }

  /** Sends the queue and the needs in `lease` calls, one at a time, until both are empty. */
  private send(s: OrgState): Promise<void> {
    if (s.sending) return s.sending;
    if (s.timer) {
      clearTimeout(s.timer);
      s.timer = null;
    }
    s.sending = (async () => {
      try {
        while (s.queue.length || s.needs.length) {
          const queued = s.queue.splice(0);
          const needs = s.needs.splice(0);
          for (const q of queued) if (q.report.kind === "admitted") s.unsent.delete(q.report.admission.reservationId);
          const orgId = s.orgId;
          this.rpcs++;
          // Reports are idempotent at the gate, so a call carrying only reports is retried once.
          const r = await gateLease(s.env, { orgId, reports: queued.map((q) => q.report), needs: needs.map((n) => n.need) }, needs.length === 0);
          if (isGateUnavailable(r)) {
            if (queued.length) console.error("gate lease flush failed; admitted leases return at expiry, open reservations expire", orgId, r.message);
            for (const n of needs) n.done(r);
          } else {
            this.learnMode(s, r);
            r.answers.forEach((a, i) => needs[i]!.done(a));
          }
          for (const q of queued) q.done();
        }
      } finally {
        s.sending = null;
      }
    })();
    return s.sending;
  }

  private learnMode(s: OrgState, r: LeaseResult): void {
    if (r.mode === s.mode) return;
    s.mode = r.mode;
    if (r.mode === "strict") for (const [sig, slot] of [...s.slots]) this.dropSlot(s, sig, slot);
  }
}

/** This isolate's client. */
export const leaseClient = new LeaseClient();
