using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = .gateway),
    (name = "gateway-nogate", worker = .gatewayNogate),
    (name = "noop", worker = .noop),
    (name = "d1", worker = .d1),
    (name = "do-disk", disk = (path = "/dev/shm/tollgate-bench-30915", writable = true)),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "gateway", address = "127.0.0.1:42293", http = (), service = "gateway"),
    (name = "noop", address = "127.0.0.1:32967", http = (), service = "noop"),
    (name = "gateway-nogate", address = "127.0.0.1:38795", http = (), service = "gateway-nogate"),
    (name = "d1", address = "127.0.0.1:40933", http = (), service = "d1"),
  ],
  extensions = [(modules = [(name = "bench:d1-shim", esModule = embed "../d1-shim.js", internal = true)])],
);

const gateway :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "gateway.js")],
  compatibilityDate = "2026-10-15",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
    (name = "DB", wrapped = (moduleName = "bench:d1-shim", innerBindings = [(name = "ns", durableObjectNamespace = (className = "D1Store", serviceName = "d1"))])),
    (name = "ORG_GATE", durableObjectNamespace = "OrgGate"),
    (name = "ENVIRONMENT", text = "bench"),
    (name = "ORG_MODE", text = "multi"),
    (name = "ALLOW_PRIVATE_UPSTREAMS", text = "true"),
    (name = "INVITE_EXPIRY_DAYS", text = "7"),
    (name = "APP_URL", text = "http://localhost:8787"),
    (name = "SESSION_TTL_HOURS", text = "168"),
    (name = "MAX_BODY_BYTES", text = "4194304"),
    (name = "ENCRYPTION_KEY", text = "YmVuY2gtb25seS1lbmNyeXB0aW9uLWtleS0zMi1ieXQ="),
    (name = "SESSION_SIGNING_KEYS", text = "bench:YmVuY2gtb25seS1zZXNzaW9uLXNpZ25pbmcta2V5LTMyYnl0ZXM="),
  ],
  durableObjectNamespaces = [(className = "OrgGate", uniqueKey = "bench-org-gate", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
);

const gatewayNogate :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "gateway-nogate.js")],
  compatibilityDate = "2026-10-15",
  bindings = [
    (name = "DB", wrapped = (moduleName = "bench:d1-shim", innerBindings = [(name = "ns", durableObjectNamespace = (className = "D1Store", serviceName = "d1"))])),
    (name = "ORG_GATE", durableObjectNamespace = (className = "OrgGate", serviceName = "gateway")),
    (name = "ENVIRONMENT", text = "bench"),
    (name = "ORG_MODE", text = "multi"),
    (name = "ALLOW_PRIVATE_UPSTREAMS", text = "true"),
    (name = "INVITE_EXPIRY_DAYS", text = "7"),
    (name = "APP_URL", text = "http://localhost:8787"),
    (name = "SESSION_TTL_HOURS", text = "168"),
    (name = "MAX_BODY_BYTES", text = "4194304"),
    (name = "ENCRYPTION_KEY", text = "YmVuY2gtb25seS1lbmNyeXB0aW9uLWtleS0zMi1ieXQ="),
    (name = "SESSION_SIGNING_KEYS", text = "bench:YmVuY2gtb25seS1zZXNzaW9uLXNpZ25pbmcta2V5LTMyYnl0ZXM="),
  ],
);

const noop :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "../noop-worker.js")],
  compatibilityDate = "2026-10-15",
  bindings = [(name = "UPSTREAM", text = "http://127.0.0.1:35057")],
);

const d1 :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "../d1-store.js")],
  compatibilityDate = "2026-10-15",
  bindings = [(name = "STORE", durableObjectNamespace = "D1Store")],
  durableObjectNamespaces = [(className = "D1Store", uniqueKey = "bench-d1-store", enableSql = true)],
  durableObjectStorage = (localDisk = "do-disk"),
);
