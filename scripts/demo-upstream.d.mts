/** Types for the demo model provider `npm start` runs (scripts/demo-upstream.mjs); used by test/global-setup.ts. */
export function startDemoUpstream(port: number): Promise<{ url: string; close: () => void }>;
