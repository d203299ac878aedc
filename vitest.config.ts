import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const migrations = await readD1Migrations(fileURLToPath(new URL("./migrations", import.meta.url)));

/** A project running test files inside workerd against `wrangler.toml --env dev`, with extra vars. */
function workersProject(name: string, vars: Record<string, string>, include: string[], exclude: string[]) {
  return {
    plugins: [
      cloudflareTest({
        // `--env dev`: the top level of wrangler.toml is the production-safe deploy default.
        wrangler: { configPath: "./wrangler.toml", environment: "dev" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            SESSION_SIGNING_KEYS: "test1:dGVzdC1vbmx5LXNlc3Npb24tc2lnbmluZy1rZXktMzItYnl0ZXMh,old0:b2xkLXJvdGF0ZWQtc2Vzc2lvbi1zaWduaW5nLWtleS0zMmJ5dGVzIQ==",
            ENCRYPTION_KEY: "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU=",
            // Stripe: the stand-in's port is only known at global setup, so billing tests pass
            // STRIPE_API_URL per call (test/factories/billing.ts); by default nothing listens there.
            STRIPE_SECRET_KEY: "sk_test_tollgate_tests_only",
            STRIPE_WEBHOOK_SECRET: "whsec_tollgate_tests_only_0123456789abcdef",
            STRIPE_API_URL: "http://127.0.0.1:9",
            STRIPE_PRICE_PRO: "price_test_pro",
            STRIPE_PRICE_ENTERPRISE: "price_test_enterprise",
            ...vars,
          },
        },
      }),
    ],
    test: {
      name,
      include,
      exclude,
      globalSetup: ["./test/global-setup.ts"],
      setupFiles: ["./test/apply-migrations.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      workersProject("workers", {}, ["test/**/*.test.ts"], ["test/credits*.test.ts"]),
      // Prepaid credits on (docs/billing.md#prepaid-credits): only the credits tests, so no other test meets a 402 for an empty balance.
      workersProject("workers-credits", { CREDITS_ENABLED: "true" }, ["test/credits*.test.ts"], []),
      {
        // Browser tests: the built dashboard + the real Worker (wrangler dev) driven by Debian's Chromium.
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.e2e.ts"],
          globalSetup: ["./test/e2e/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
