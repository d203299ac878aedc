/** The no-op passthrough Worker: forwards the request to UPSTREAM unchanged and returns its response. */
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM + url.pathname + url.search, { method: request.method, headers: request.headers, body: request.body });
  },
};
