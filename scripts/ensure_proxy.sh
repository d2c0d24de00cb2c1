#!/usr/bin/env bash
# HAProxy from Debian for the single-host topology (python -m workspace.host); installs it if missing.
# Only the binary is used: the package's own service is left stopped (the host runs its own haproxy).
set -euo pipefail
if ! command -v haproxy >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
fi
haproxy -v | head -n1
