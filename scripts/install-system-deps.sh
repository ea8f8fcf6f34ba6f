#!/usr/bin/env bash
# Installs the Debian and npm packages the tests use (with 'bench': the benchmarks' too). Idempotent; quiet when all is present.
set -euo pipefail
need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || need_apt+=(tinyproxy)  # the forward proxy of the proxy tests
# oci://: a real OCI registry (distribution 2.8) and skopeo (the official client's save_to_oci_registry pushes with it)
[ -x /usr/bin/docker-registry ] || need_apt+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
if [ "${1:-}" = bench ]; then  # the benchmarks' baselines
  command -v aria2c >/dev/null 2>&1 || need_apt+=(aria2)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
  [ -x /usr/bin/time ] || need_apt+=(time)  # GNU time: peak RSS of each measured process
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "install-system-deps: missing ${need_apt[*]} and not root; the tests that need them will be skipped" >&2
  fi
fi

# Azurite (Azure Blob emulator) from the npm registry, pinned by scripts/azurite/package-lock.json, into the
# project's own .cache/azurite (npm ci: exactly the locked tree).
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/azurite"
if ! cmp -s "$root/scripts/azurite/package-lock.json" "$cache/package-lock.json" || [ ! -x "$cache/node_modules/.bin/azurite-blob" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$cache" && cp "$root/scripts/azurite/package.json" "$root/scripts/azurite/package-lock.json" "$cache/"
    (cd "$cache" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) \
      || echo "install-system-deps: npm could not install azurite; the Azure tests will be skipped" >&2
  else
    echo "install-system-deps: npm missing; the Azure tests will be skipped" >&2
  fi
fi
