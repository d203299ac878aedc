import { describe, expect, it } from "vitest";
import { periodBounds } from "../src/durable-objects/gate-budgets";

const iso = (b: { start: number; end: number | null }) => [new Date(b.start).toISOString(), b.end === null ? null : new Date(b.end).toISOString()];
const at = (s: string) => Date.parse(s);

describe("budget periods", () => {
  it("daily runs midnight to midnight UTC", () => {
    expect(iso(periodBounds("daily", at("2026-11-22T23:59:59.999Z"), null))).toEqual(["2026-11-22T00:00:00.000Z", "2026-11-23T00:00:00.000Z"]);
  });

  it("weekly starts on Monday 00:00 UTC (also when today is Sunday or Monday)", () => {
    expect(iso(periodBounds("weekly", at("2026-11-22T12:00:00Z"), null))).toEqual(["2026-11-16T00:00:00.000Z", "2026-11-23T00:00:00.000Z"]); // Sunday
    expect(iso(periodBounds("weekly", at("2026-11-23T00:00:00Z"), null))).toEqual(["2026-11-23T00:00:00.000Z", "2026-11-30T00:00:00.000Z"]); // Monday
  });

  it("monthly is the calendar month without a billing anchor", () => {
    expect(iso(periodBounds("monthly", at("2026-12-31T23:00:00Z"), null))).toEqual(["2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
  });

  it("monthly follows the billing anchor's day and time, clamped to short months", () => {
    const anchor = at("2026-01-31T15:30:00Z");
    expect(iso(periodBounds("monthly", at("2026-02-10T00:00:00Z"), anchor))).toEqual(["2026-01-31T15:30:00.000Z", "2026-02-28T15:30:00.000Z"]);
    expect(iso(periodBounds("monthly", at("2026-03-01T00:00:00Z"), anchor))).toEqual(["2026-02-28T15:30:00.000Z", "2026-03-31T15:30:00.000Z"]);
    expect(iso(periodBounds("monthly", at("2026-03-31T15:30:00Z"), anchor))).toEqual(["2026-03-31T15:30:00.000Z", "2026-04-30T15:30:00.000Z"]);
    const mid = at("2025-06-15T00:00:00Z");
    expect(iso(periodBounds("monthly", at("2027-01-14T23:59:59Z"), mid))).toEqual(["2026-12-15T00:00:00.000Z", "2027-01-15T00:00:00.000Z"]);
  });

  it("total never resets", () => {
    expect(periodBounds("total", Date.now(), null)).toEqual({ start: 0, end: null });
  });
});
