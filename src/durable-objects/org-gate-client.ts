import type { Env } from "../env";

/** The org's gate stub. The DO is named by the org id: the same id as in the key and the session. */
export function orgGate(env: Pick<Env, "ORG_GATE">, orgId: string) {
  return env.ORG_GATE.get(env.ORG_GATE.idFromName(orgId));
}
