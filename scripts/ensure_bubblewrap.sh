#!/usr/bin/env bash
# bubblewrap sandboxes Deep-mode commands. Without a working one, jobs are refused with how to enable it
# (SANDBOX_BACKEND=rlimit runs them unconfined instead: unsafe, an explicit operator choice).
if ! command -v bwrap >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  ($SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
    || echo "bubblewrap could not be installed (apt-get install bubblewrap): Deep-mode jobs that run commands will fail"
fi
if command -v bwrap >/dev/null 2>&1 \
  && ! bwrap --ro-bind / / --unshare-all --die-with-parent true >/dev/null 2>&1; then
  echo "bubblewrap is installed but cannot create namespaces here (e.g. unprivileged user namespaces are off):" \
    "Deep-mode jobs that run commands will fail"
fi
exit 0
