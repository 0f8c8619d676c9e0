#!/usr/bin/env bash
# Installs the system packages the test suite needs, idempotently:
# - the Vulkan loader and Mesa 25's software Vulkan driver (lavapipe) from bookworm-backports,
#   so onnxruntime's WebGPU execution provider has an adapter on a CPU-only machine;
# - redis-server, started only when nothing listens on 127.0.0.1:6379;
# - Debian's chromium, the browser the dashboard's e2e spec drives with playwright-core.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

have_mesa25() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qE '^(2[5-9]|[3-9][0-9])\.'
}

if ! have_mesa25 || ! dpkg-query -W libvulkan1 >/dev/null 2>&1; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Reuse the machine's own Debian mirror (first URIs: line of its deb822 source, or a deb line).
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
    if [ -z "$uri" ]; then
      uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}')
    fi
    [ -n "$uri" ] || { echo "no Debian source found to derive bookworm-backports from" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq -t bookworm-backports libvulkan1 mesa-vulkan-drivers >/dev/null
fi
have_mesa25 || { echo "mesa-vulkan-drivers >= 25 not installed" >&2; exit 1; }

# redis-server itself: the scale-out spec restarts a private one.
command -v redis-server >/dev/null || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq redis-server >/dev/null; }
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  mkdir -p /tmp/redis-ci
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/redis-ci --logfile /tmp/redis-ci/redis.log
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
fi
# PostgreSQL (trust auth on 127.0.0.1): the e2e suite and the store spec also run against it.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq postgresql >/dev/null
    conf=$(ls -d /etc/postgresql/*/main | head -n1)
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | $SUDO tee "$conf/pg_hba.conf" >/dev/null
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 0.1; done
fi

# chromium: the dashboard spec (test/dashboard.e2e-spec.ts) launches /usr/bin/chromium headless.
command -v chromium >/dev/null || { $SUDO apt-get update -qq; $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

echo "system deps ok: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
