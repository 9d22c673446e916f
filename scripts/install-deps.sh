#!/usr/bin/env bash
# Installs every Debian package that building, testing, fuzzing and running
# actormq needs. Idempotent and fast when all is present: checks with
# dpkg-query first and runs `apt-get update` only if something is missing.
#
# Needs root (or sudo) only when something is missing. Package services
# (redis-server, mosquitto) are never left running: the tests start their own
# instances on free ports (scripts/services.sh).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  clang-14 libclang-rt-14-dev            # libFuzzer + sanitizers (tests/fuzz)
  # libraries
  libcaf-dev librdkafka-dev libhiredis-dev nlohmann-json3-dev librocksdb-dev
  libboost-dev libboost-system-dev libspdlog-dev libyaml-cpp-dev libcli11-dev
  libbenchmark-dev
  libssl-dev                             # libcrypto: auth.password_file; libssl: listeners.tls
  openssl                                # CLI: test certificates for net_tls / e2e_tls
  # services and clients used by tests
  redis-server mosquitto mosquitto-clients python3 python3-paho-mqtt python3-pytest
  default-jre-headless maven             # Kafka broker from Maven Central (scripts/fetch-kafka.sh)
  chromium                               # Sessions page test (tests/browser; Node.js + npm come with the machine)
)

# Node.js + npm for tests/browser: the machine's own if it has them (this kind
# of machine ships Node.js 20 with npm), else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != ii* ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present" >&2
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

# Keep maintainer scripts from starting redis-server/mosquitto as services
# (they would grab 6379/1883): a policy-rc.d that denies every start, only for
# the duration of the install, unless the machine already has one.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# temporary, scripts/install-deps.sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if ((own_policy)); then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# In case a service got started anyway (e.g. an init without policy-rc.d
# support): stop and disable it through its own init system, never by name.
for svc in redis-server mosquitto; do
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    "${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/$svc ]]; then
    if "${sudo[@]}" /etc/init.d/"$svc" status >/dev/null 2>&1; then
      "${sudo[@]}" /etc/init.d/"$svc" stop >/dev/null 2>&1 || true
    fi
    command -v update-rc.d >/dev/null && "${sudo[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done" >&2
