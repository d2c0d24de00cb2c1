#!/usr/bin/env bash
# git clones repositories into workspaces (workspace/repos/git.py). Without it, clone imports fail with git's absence.
if ! command -v git >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  ($SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null) \
    || echo "git could not be installed (apt-get install git): importing a workspace from a git URL will fail"
fi
exit 0
