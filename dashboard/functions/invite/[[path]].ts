/**
 * Pages Function: forwards every `/invite/*` (invitation links) request, verbatim (method, headers, cookies, body), to the gateway
 * Worker through the `API` service binding. Same origin for the browser, so the session cookie and the CSRF
 * Origin check work without CORS.
 */
type Env = { API: { fetch: (request: Request) => Promise<Response> } };

export const onRequest = (context: { request: Request; env: Env }): Promise<Response> => context.env.API.fetch(context.request);
