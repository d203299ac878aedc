/**
 * The isolate's side of leases (docs/budgets.md "Leases"). One instance per isolate (the module
 * singleton {@link leaseClient}); tests create several to stand for several isolates.
 *
 * For an org in `lease` mode, a request whose signature (key, model, and the attribution parts that
 * choose budget instances: {@link signatureOf}) matches a lease this isolate holds is admitted here, with no round trip: the lease must still be within its TTL and have room
 * for the request's reservation (estimated by the same rules as the gate). Otherwise one `lease`
 * call asks the gate for a new lease (or gets the exact admission near a limit). Everything the
 * gate must learn — requests admitted from leases, settles, releases, leases given back — is queued
 * and sent in one `lease` call every {@link FLUSH_INTERVAL_MS} or {@link FLUSH_MAX_REPORTS} reports,
 * whichever comes first; a settle's promise (awaited by the request's `waitUntil`) resolves when the
 * call carrying it has returned.
 *
 * Workers never let one request await another request's I/O (it hangs or throws "Cannot perform I/O
 * on behalf of a different request"). So nothing here waits on a promise another request created:
 * the queue is plain data, any request's call carries everything queued, and a request whose report
 * is in someone else's call polls with its own timers until that call is done (or sends it itself).
 * Calls may overlap; the gate is indifferent to their order except for a lease's return, which is
 * held back until every admission from that lease has been confirmed.
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
  type LeaseGrant,
  type LeaseNeed,
  type LeaseReport,
  type LeaseResult,
  type LeaseSplit,
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
/** How long a request polls for a lease another request of this isolate is asking for. */
const JOIN_WAIT_MS = 50;
/** Calls a report may fail before it is given up (the gate's expiry rules then apply). */
const MAX_SEND_FAILURES = 2;

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

type Queued = { report: LeaseReport; state: "queued" | "sending" | "done"; failures: number };

type OrgState = {
  orgId: string;
  env: GateEnv;
  mode: AdmissionMode;
  slots: Map<string, Slot>;
  /** Lease requests in flight per signature (other misses poll for their result for a moment). */
  asking: Map<string, number>;
  /**
   * Signatures the gate last answered with an exact admission (near a limit), until when: their
   * requests ask at once instead of polling for a lease.
   */
  exactUntil: Map<string, number>;
  /** Admissions per signature in the last lease: the recent rate. */
  rate: Map<string, number>;
  /** Per key + model ({@link baseOf}): which attribution parts split leases, from the last grant. */
  splits: Map<string, LeaseSplit>;
  queue: Queued[];
  /** Admissions still in the queue, by reservation id (a settle before the flush replaces its report). */
  unsent: Map<string, Queued>;
  /** Admissions per lease not yet confirmed by the gate; a lease is returned only at 0. */
  unconfirmed: Map<string, number>;
  /** Leases to give back once their admissions are confirmed. */
  closing: Set<string>;
  /** Until when a request of this isolate is already timing a flush of queued admissions. */
  flushArmedUntil: number;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The part of a signature every request has: key, model, BYOK. */
function baseOf(req: AdmitRequest): string {
  return JSON.stringify([req.keyId, req.keyHash, req.model, req.byok === true]);
}

/**
 * What a lease was granted for: requests with the same signature charge the same budget instances
 * and may use it. Key, model and BYOK always count; of the attribution only what `split` (learned
 * from the org's last grant for this key and model) says chooses budget instances — before any grant,
 * the whole of it. Null: leases never cover the request.
 */
function signatureOf(req: AdmitRequest, split: LeaseSplit | undefined): string | null {
  if (req.unbounded || req.alias !== undefined) return null;
  const tags = req.attribution.tags ?? {};
  const parts = split
    ? split.tagKeys.map((k) => (Object.prototype.hasOwnProperty.call(tags, k) ? tags[k]! : null))
    : Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const customer = !split || split.customer ? req.attribution.customerId : null;
  return `${baseOf(req)}${JSON.stringify([split ? 1 : 0, customer, parts])}`;
}

/** Signatures an isolate keeps leases and rates for, per org, before it gives every lease back and starts over. */
export const MAX_SIGNATURES = 10_000;

export type LeaseClientOptions = { flushIntervalMs?: number; flushMaxReports?: number; maxSignatures?: number; now?: () => number };

/** See the file comment. */
export class LeaseClient {
  private readonly orgs = new Map<string, OrgState>();
  private readonly flushIntervalMs: number;
  private readonly flushMaxReports: number;
  private readonly now: () => number;
  private readonly maxSignatures: number;
  /** Round trips to the gate made by this client (bench and tests). */
  rpcs = 0;

  constructor(opts: LeaseClientOptions = {}) {
    this.flushIntervalMs = opts.flushIntervalMs ?? FLUSH_INTERVAL_MS;
    this.flushMaxReports = opts.flushMaxReports ?? FLUSH_MAX_REPORTS;
    this.now = opts.now ?? Date.now;
    this.maxSignatures = opts.maxSignatures ?? MAX_SIGNATURES;
  }

  /** Leases this isolate holds for an org (diagnostics and tests). */
  leasesHeld(orgId: string): number {
    return this.orgs.get(orgId)?.slots.size ?? 0;
  }

  private state(env: GateEnv, orgId: string): OrgState {
    let s = this.orgs.get(orgId);
    if (!s) {
      s = {
        orgId, env, mode: "strict", slots: new Map(), asking: new Map(), exactUntil: new Map(), rate: new Map(), splits: new Map(), queue: [], unsent: new Map(),
        unconfirmed: new Map(), closing: new Set(), flushArmedUntil: 0,
      };
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
    const base = baseOf(req);
    let sig = signatureOf(req, s.splits.get(base));
    const joinUntil = Date.now() + JOIN_WAIT_MS;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (sig !== null) {
        const local = this.tryLocal(s, sig, req);
        if (local) return local;
        // Another request of this isolate is asking for this lease: poll for it briefly (own timers only).
        if ((s.asking.get(sig) ?? 0) > 0 && (s.exactUntil.get(sig) ?? 0) <= this.now() && Date.now() < joinUntil) {
          await sleep(1);
          attempt--;
          continue;
        }
      }
      const last = sig === null || attempt === MAX_ATTEMPTS - 1;
      const want = last || sig === null ? 0 : Math.max(MIN_WANT, 2 * (s.rate.get(sig) ?? 0));
      const old = sig === null ? undefined : s.slots.get(sig);
      if (sig !== null && old) this.dropSlot(s, sig, old);
      if (sig !== null) s.asking.set(sig, (s.asking.get(sig) ?? 0) + 1);
      let r: LeaseResult | GateUnavailable;
      try {
        r = await this.send(s, [{ req, want }]);
      } finally {
        if (sig !== null) s.asking.set(sig, (s.asking.get(sig) ?? 1) - 1);
      }
      if (isGateUnavailable(r)) return r;
      const answer = r.answers[0]!;
      if (answer.kind === "exact") {
        if (sig !== null) s.exactUntil.set(sig, this.now() + LEASE_TTL_MS);
        return answer.result;
      }
      if (sig === null) break;
      s.exactUntil.delete(sig);
      // Many customers or tags would grow these maps without end: give everything back and start over.
      if (s.slots.size >= this.maxSignatures) for (const [k, v] of [...s.slots]) this.dropSlot(s, k, v);
      if (s.rate.size >= this.maxSignatures) s.rate.clear();
      if (s.exactUntil.size >= this.maxSignatures) s.exactUntil.clear();
      if (s.splits.size >= this.maxSignatures) s.splits.clear();
      s.splits.set(base, answer.grant.splitBy);
      sig = signatureOf(req, answer.grant.splitBy)!;
      const prior = s.slots.get(sig);
      if (prior) this.dropSlot(s, sig, prior);
      s.slots.set(sig, { grant: answer.grant, micros: answer.grant.micros, tokens: answer.grant.tokens, requests: answer.grant.requests, used: 0, receivedAt: this.now() });
    }
    // Unreachable: the last attempt asks for an exact admission (want 0).
    return { ok: false, reason: "unavailable", overloaded: false, message: "lease admission did not converge" };
  }

  /** Settles through the org's batch when it uses leases, else with today's `settle` call. */
  async settle(env: GateEnv, req: SettleRequest): Promise<void> {
    const s = this.state(env, req.orgId);
    if (s.mode !== "lease" && !s.unsent.has(req.reservationId)) {
      this.rpcs++;
      const r = await gateSettle(env, req);
      if (isGateUnavailable(r)) console.error("gate settle failed; the reservation will expire", req.reservationId, r.overloaded ? "overloaded" : r.message);
      return;
    }
    await this.flushed(s, this.report(s, { kind: "settle", req }, req.reservationId));
  }

  /** Releases through the org's batch when it uses leases, else with today's `release` call. */
  async release(env: GateEnv, req: ReleaseRequest): Promise<void> {
    const s = this.state(env, req.orgId);
    if (s.mode !== "lease" && !s.unsent.has(req.reservationId)) {
      this.rpcs++;
      const r = await gateRelease(env, req);
      if (isGateUnavailable(r)) console.error("gate release failed; the reservation will expire", req.reservationId, r.overloaded ? "overloaded" : r.message);
      return;
    }
    await this.flushed(s, this.report(s, { kind: "release", req }, req.reservationId));
  }

  /** Sends everything queued for every org now (tests). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.orgs.values()].map((s) => (s.queue.length || s.closing.size ? this.send(s, []) : undefined)));
  }

  /** Forgets every lease and report without telling the gate: an isolate that died (tests). */
  abandon(): void {
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
    const q: Queued = { report: { kind: "admitted", admission }, state: "queued", failures: 0 };
    s.unsent.set(reservationId, q);
    s.unconfirmed.set(g.leaseId, (s.unconfirmed.get(g.leaseId) ?? 0) + 1);
    s.queue.push(q);
    // One request per flush interval makes sure queued admissions reach the gate soon (a request's
    // settle carries its own admission anyway, should that request end first).
    if (now >= s.flushArmedUntil) {
      s.flushArmedUntil = now + this.flushIntervalMs;
      void this.flushed(s, q).catch(() => undefined);
    }
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

  /** Forgets a lease; it is given back once every admission from it is confirmed. */
  private dropSlot(s: OrgState, sig: string, slot: Slot): void {
    if (s.slots.get(sig) === slot) s.slots.delete(sig);
    s.rate.set(sig, slot.used);
    s.closing.add(slot.grant.leaseId);
  }

  /** Queues a settle/release; it replaces the queued admission of the same request, if any. */
  private report(s: OrgState, report: Extract<LeaseReport, { kind: "settle" | "release" }>, reservationId: string): Queued {
    const unsent = s.unsent.get(reservationId);
    if (unsent && unsent.state === "queued" && unsent.report.kind === "admitted") {
      // Admitted and finished within one flush: one report, and the gate keeps no reservation row for it.
      unsent.report = { ...report, admission: unsent.report.admission };
      return unsent;
    }
    const q: Queued = { report, state: "queued", failures: 0 };
    s.queue.push(q);
    return q;
  }

  /**
   * Resolves once `q` has reached the gate: carried by any request's call, or sent by this one when
   * it has waited the flush interval (or the queue is full). Polls with this request's own timers.
   */
  private async flushed(s: OrgState, q: Queued): Promise<void> {
    const start = Date.now();
    for (;;) {
      if (q.state === "done") return;
      if (q.state === "queued" && (s.queue.length >= this.flushMaxReports || Date.now() - start >= this.flushIntervalMs)) {
        await this.send(s, []);
        continue;
      }
      // Short naps: another request's call may carry this report before the interval is up.
      await sleep(q.state === "sending" ? 1 : Math.min(5, Math.max(1, this.flushIntervalMs - (Date.now() - start))));
    }
  }

  /** One `lease` call from this request: everything queued, the leases ready to return, and `needs`. */
  private async send(s: OrgState, needs: LeaseNeed[]): Promise<LeaseResult | GateUnavailable> {
    const queued = s.queue.splice(0);
    for (const q of queued) {
      q.state = "sending";
      if (q.report.kind !== "close" && q.report.kind !== "settle" && q.report.kind !== "release") s.unsent.delete(q.report.admission.reservationId);
      else if (q.report.kind !== "close" && q.report.admission) s.unsent.delete(q.report.admission.reservationId);
    }
    const closes: string[] = [];
    for (const id of s.closing) {
      if ((s.unconfirmed.get(id) ?? 0) > 0) continue;
      closes.push(id);
      s.closing.delete(id);
      s.unconfirmed.delete(id);
    }
    const reports = [...queued.map((q) => q.report), ...closes.map((leaseId): LeaseReport => ({ kind: "close", leaseId }))];
    this.rpcs++;
    // Reports are idempotent at the gate, so a call carrying only reports is retried once.
    const r = await gateLease(s.env, { orgId: s.orgId, reports, needs }, needs.length === 0);
    if (isGateUnavailable(r)) {
      if (reports.length) console.error("gate lease call failed", s.orgId, r.message);
      for (const id of closes) s.closing.add(id);
      for (const q of queued) {
        if (++q.failures >= MAX_SEND_FAILURES) {
          // Given up: an admitted request's lease returns at expiry; an open reservation expires at its estimate.
          q.state = "done";
          this.confirm(s, q);
        } else {
          q.state = "queued";
          s.queue.push(q);
        }
      }
      return r;
    }
    for (const q of queued) {
      q.state = "done";
      this.confirm(s, q);
    }
    this.learnMode(s, r);
    return r;
  }

  /** An admission from a lease reached the gate (or was given up): the lease may now be returned. */
  private confirm(s: OrgState, q: Queued): void {
    const a = q.report.kind === "close" ? undefined : q.report.kind === "admitted" ? q.report.admission : q.report.admission;
    if (!a) return;
    const n = (s.unconfirmed.get(a.leaseId) ?? 1) - 1;
    if (n > 0) s.unconfirmed.set(a.leaseId, n);
    else s.unconfirmed.delete(a.leaseId);
  }

  private learnMode(s: OrgState, r: LeaseResult): void {
    if (r.mode === s.mode) return;
    s.mode = r.mode;
    if (r.mode === "strict") for (const [sig, slot] of [...s.slots]) this.dropSlot(s, sig, slot);
  }
}

/** This isolate's client. */
export const leaseClient = new LeaseClient();
