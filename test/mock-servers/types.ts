/** A small local HTTP server standing in for a service outside this machine (provider, SendGrid, Stripe). */
export type MockServer = { name: string; url: string; close: () => Promise<void> };
