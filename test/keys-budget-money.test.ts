import { describe, expect, it } from "vitest";
import { formatMicrosAsUsd, parseUsdToMicros } from "../src/lib/usd";

describe("dollar amounts to micro-dollars (key budgets)", () => {
  it.each([
    ["0", 0], ["0.29", 290_000], ["0.1", 100_000], ["19.99", 19_990_000], ["1.000001", 1_000_001], ["500", 500_000_000],
    [" 7.5 ", 7_500_000], ["1000000000", 1_000_000_000_000_000], [0.29, 290_000], [19.99, 19_990_000], [4.35, 4_350_000], [1e-6, 1], [1e-7, null],
  ] as const)("%j → %j", (input, micros) => {
    expect(parseUsdToMicros(input)).toBe(micros);
  });

  it.each(["-1", "1.0000001", "1e3", "", ".5", "5.", "1,000", "abc", "1000000000.01", "NaN", "Infinity"])("refuses %j", (input) => {
    expect(parseUsdToMicros(input)).toBeNull();
  });

  it("refuses non-finite and negative numbers", () => {
    expect(parseUsdToMicros(Number.NaN)).toBeNull();
    expect(parseUsdToMicros(Number.POSITIVE_INFINITY)).toBeNull();
    expect(parseUsdToMicros(-0.5)).toBeNull();
  });

  it("formats micros back exactly", () => {
    expect(formatMicrosAsUsd(290_000)).toBe("0.29");
    expect(formatMicrosAsUsd(500_000_000)).toBe("500");
    expect(formatMicrosAsUsd(1_000_001)).toBe("1.000001");
    expect(formatMicrosAsUsd(0)).toBe("0");
  });
});
