#!/usr/bin/env bash
# bubblewrap sandboxes Deep-mode commands; without it a plain rlimit sandbox is used.
if ! command -v bwrap >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  ($SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
    || echo "bubblewrap not installed; Deep-mode commands fall back to the rlimit sandbox"
fi
