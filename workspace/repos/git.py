"""Git through its command-line program, always run with a safe environment.

Why the git CLI rather than pygit2 or dulwich: it is the reference implementation of every transport teams use
(https through libcurl and the system's CA store, ssh through OpenSSH and its known_hosts handling, file://), of
shallow clones, and of the fetch / merge / push the later git features need; Debian packages it with prompt
security fixes. pygit2 needs a libgit2 built with libssh2 and lags on shallow clones; dulwich is pure Python
(slow on a 50 MB pack) with its own https and ssh code to trust. Every command runs with:

- no system or global configuration (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL=/dev/null, HOME an empty private
  directory), no hooks (core.hooksPath=/dev/null), no background gc, objects checked as they arrive
  (transfer.fsckObjects);
- only the protocol the URL needs (GIT_ALLOW_PROTOCOL: https, ssh, file for REPOS_LOCAL_ROOTS, http only for the
  hosts of REPOS_HTTP_HOSTS), never a credential prompt (GIT_TERMINAL_PROMPT=0, askpass programs that fail, ssh
  in BatchMode);
- ssh without user configuration (-F /dev/null) or agent, a deploy key only from a 0600 file in a 0700 directory
  removed afterwards, host keys accepted on first use and checked ever after (StrictHostKeyChecking=accept-new,
  the workspace's own known_hosts file);
- a wall-clock limit (REPOS_GIT_TIMEOUT) and, for a clone, a bound on the bytes it writes
  (REPOS_MAX_ARCHIVE_BYTES); the process group is killed past either.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from workspace.repos.archives import FILE, OTHER, SUBMODULE, SYMLINK, Entry, ImportRefused, Limits

MAX_KEY_BYTES = 16 * 1024
PASSED_THROUGH = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
PASSED_THROUGH += ("SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO")
SAFE_CONFIG = [
    "-c", "core.hooksPath=/dev/null",
    "-c", "transfer.fsckObjects=true",
    "-c", "credential.helper=",
    "-c", "gc.auto=0",
    "-c", "maintenance.auto=false",
    "-c", "core.fsmonitor=false",
]  # fmt: skip
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$")
_SCP = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<path>[^/\\].*|/.+)$")
_HOST = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")
_HELPER = re.compile(r"^[A-Za-z0-9+.-]*::")
_PROGRESS = re.compile(r"(Receiving objects|Resolving deltas):\s+(\d+)%")


class GitError(ValueError):
    """A git request that cannot be done, or a git command that failed; the message is for the user."""


@dataclass(frozen=True)
class Remote:
    protocol: str  # "https", "ssh", "file", or "http" (REPOS_HTTP_HOSTS)
    url: str  # what git is given
    display: str  # what is stored and shown


def parse_remote(url: str) -> Remote:
    """Check a clone URL: https, ssh (ssh://… or user@host:path), a local path / file:// under REPOS_LOCAL_ROOTS, or
    http to a host of REPOS_HTTP_HOSTS."""
    url = (url or "").strip()
    if not url:
        raise GitError("Give the URL of a git repository.")
    if url.startswith("-") or any(ch in url for ch in "\x00\n\r\t "):
        raise GitError("That is not a git URL.")
    if _HELPER.match(url):
        raise GitError("Not a git URL: remote helpers (transport::address) are not supported.")
    if url.startswith("/") or url.lower().startswith("file:"):
        return _local_remote(url)
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "http" and (parts.hostname or "").lower() not in settings.REPOS_HTTP_HOSTS:
            raise GitError("Plain http is not encrypted: use the https or ssh URL of the repository.")
        if scheme in ("https", "http"):
            if parts.username or parts.password:
                raise GitError("Put no credentials in the URL: clone private repositories over ssh with a deploy key.")
            if not parts.hostname or not _HOST.match(parts.hostname):
                raise GitError(f"The {scheme} URL has no valid host.")
            return Remote(scheme, url, url)
        if scheme == "ssh":
            if parts.password:
                raise GitError("Put no password in the URL: use a deploy key.")
            if (
                not parts.hostname
                or not _HOST.match(parts.hostname)
                or (parts.username and not _USER.match(parts.username))
            ):
                raise GitError("The ssh URL has no valid host or user.")
            return Remote("ssh", url, url)
        raise GitError(f"{scheme}:// URLs are not supported: use https, ssh, or a local path (self-hosted).")
    match = _SCP.match(url)
    if match and len(match.group("host")) > 1:  # "C:..." is a drive, not a host
        if match.group("user") and not _USER.match(match.group("user")):
            raise GitError("The ssh URL has no valid user.")
        return Remote("ssh", url, url)
    raise GitError("Not a git URL: use https://…, ssh://…, user@host:path, or (self-hosted) a local path.")


def _local_remote(url: str) -> Remote:
    roots = [Path(root) for root in settings.REPOS_LOCAL_ROOTS]
    if not roots:
        raise GitError("Cloning local paths is off on this server (the operator can allow folders: REPOS_LOCAL_ROOTS).")
    if url.lower().startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise GitError("A file:// URL names a local path: file:///path/to/repository.")
        raw = parts.path
    else:
        raw = url
    if ".." in raw.split("/"):
        raise GitError("The local path must not contain '..'.")
    real = Path(os.path.realpath(raw))
    for root in roots:
        root_real = Path(os.path.realpath(root))
        if real == root_real or root_real in real.parents:
            if not real.is_dir():
                raise GitError("There is no repository at that local path.")
            return Remote("file", real.as_uri(), url)
    raise GitError("That local path is not inside a folder this server allows cloning from (REPOS_LOCAL_ROOTS).")


def check_ref(ref: str) -> str:
    ref = (ref or "").strip()
    if not ref:
        return ""
    if (
        len(ref) > 255
        or not _REF.match(ref)
        or ".." in ref
        or "//" in ref
        or ref.endswith((".lock", "/", "."))
        or "/." in ref
        or "@{" in ref
    ):
        raise GitError(f"{ref!r} is not a branch or tag name.")
    return ref


def check_deploy_key(key: str, remote: Remote) -> str:
    """A pasted private key, normalised for ssh (LF line ends, final newline); "" when none was given."""
    key = (key or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not key:
        return ""
    if remote.protocol != "ssh":
        raise GitError("A deploy key is used with an ssh URL (git@host:owner/repo.git or ssh://…) only.")
    if len(key) > MAX_KEY_BYTES:
        raise GitError("That deploy key is too long.")
    first, last = key.splitlines()[0], key.splitlines()[-1]
    if not (first.startswith("-----BEGIN ") and first.endswith("PRIVATE KEY-----") and last.startswith("-----END ")):
        raise GitError("Paste the private key (from -----BEGIN … PRIVATE KEY----- to -----END … PRIVATE KEY-----).")
    return key + "\n"


class GitSession:
    """A private HOME (and deploy key file) for a series of git commands; removed when the session ends."""

    def __init__(self, protocol: str, *, deploy_key: str = "", known_hosts: Path | None = None) -> None:
        tmp = Path(settings.REPOS_DATA_DIR) / "tmp"
        tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home = Path(tempfile.mkdtemp(prefix="git-home-", dir=tmp))  # mode 0700
        self.protocol = protocol
        self.key_file: Path | None = None
        if deploy_key:
            self.key_file = self.home / "deploy_key"
            descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(deploy_key)
        self.known_hosts = known_hosts

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def env(self) -> dict[str, str]:
        false = shutil.which("false") or "/bin/false"
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": false,
            "SSH_ASKPASS": false,
            "SSH_ASKPASS_REQUIRE": "never",
            "GIT_ALLOW_PROTOCOL": self.protocol,
            "GIT_PROTOCOL_FROM_USER": "0",
            "GIT_SSH_COMMAND": self.ssh_command(),
            "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
            "GIT_HTTP_LOW_SPEED_TIME": "60",
            "LC_ALL": "C",
            "LANG": "C",
        }
        env.update({name: os.environ[name] for name in PASSED_THROUGH if name in os.environ})
        return env

    def ssh_command(self) -> str:
        known_hosts = self.known_hosts or (self.home / "known_hosts")
        known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        command = [
            "ssh", "-F", os.devnull,
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", f"GlobalKnownHostsFile={os.devnull}",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=30",
            "-o", "ServerAliveInterval=15",
        ]  # fmt: skip
        if self.key_file is not None:
            command += ["-i", str(self.key_file)]
        return " ".join(shlex.quote(part) for part in command)

    def run(
        self,
        args: list[str],
        *,
        cwd: Path | None = None,
        timeout: float | None = None,
        on_tick: Callable[[str], None] | None = None,
        watch: tuple[Path, int] | None = None,
        hide: Iterable[tuple[str, str]] = (),
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        allowed: tuple[int, ...] = (0,),
    ) -> str:
        """See `run_bytes`; stdout decoded as UTF-8."""
        return self.run_bytes(
            args,
            cwd=cwd,
            timeout=timeout,
            on_tick=on_tick,
            watch=watch,
            hide=hide,
            input=input,
            env=env,
            allowed=allowed,
        ).decode("utf-8", "replace")

    def run_bytes(
        self,
        args: list[str],
        *,
        cwd: Path | None = None,
        timeout: float | None = None,
        on_tick: Callable[[str], None] | None = None,
        watch: tuple[Path, int] | None = None,
        hide: Iterable[tuple[str, str]] = (),
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        allowed: tuple[int, ...] = (0,),
    ) -> bytes:
        """Run `git <args>`; its stdout. `on_tick(last progress line)` about every second; `watch`: (folder,
        bytes) it may write at most; `input`: what git reads on its stdin; `env`: more environment (an index
        file, an author); `allowed`: exit statuses that are not failures (`merge-tree`: 1 = conflicts).
        Failures raise GitError with git's last words, server paths hidden."""
        timeout = settings.REPOS_GIT_TIMEOUT if timeout is None else timeout
        process = subprocess.Popen(
            ["git", *SAFE_CONFIG, *args],
            cwd=cwd,
            env={**self.env(), **(env or {})},
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        output: list[bytes] = []
        errors: list[str] = []
        readers = [
            threading.Thread(target=lambda: output.append(process.stdout.read()), daemon=True),
            threading.Thread(target=_read_progress, args=(process.stderr, errors), daemon=True),
        ]
        if input is not None:
            readers.append(threading.Thread(target=_write_input, args=(process.stdin, input), daemon=True))
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + timeout
        refused = ""
        while process.poll() is None:
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                refused = f"git took longer than {timeout:g} s (REPOS_GIT_TIMEOUT)"
            elif watch is not None and _folder_bytes(watch[0]) > watch[1]:
                refused = f"the repository is larger than {watch[1]} bytes (REPOS_MAX_ARCHIVE_BYTES)"
            if refused:
                _kill(process)
                break
            if on_tick is not None:
                on_tick(errors[-1] if errors else "")
        process.wait()
        for reader in readers:
            reader.join(timeout=5)
        if refused:
            raise GitError(f"Refused: {refused}.")
        if process.returncode not in allowed:
            raise GitError(_describe_failure(args[0], process.returncode, errors, hide))
        return b"".join(output)


@contextmanager
def session(protocol: str, *, deploy_key: str = "", known_hosts: Path | None = None) -> Iterator[GitSession]:
    git = GitSession(protocol, deploy_key=deploy_key, known_hosts=known_hosts)
    try:
        yield git
    finally:
        git.close()


def _write_input(stream, data: bytes) -> None:
    try:
        stream.write(data)
    except OSError:  # git exited early: its exit status says why
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


def _read_progress(stream, lines: list[str]) -> None:
    """git's stderr, split on the carriage returns of its progress meter; keeps the last 50 lines."""
    pending = b""
    while chunk := stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096):
        pending += chunk
        *complete, pending = re.split(rb"[\r\n]", pending)
        for line in complete:
            if line.strip():
                lines.append(line.decode("utf-8", "replace").strip())
        del lines[:-50]
    if pending.strip():
        lines.append(pending.decode("utf-8", "replace").strip())


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _describe_failure(command: str, code: int, errors: list[str], hide: Iterable[tuple[str, str]]) -> str:
    words = [line for line in errors if line.startswith(("fatal:", "error:", "ERROR:", "remote:"))] or errors[-3:]
    text = " ".join(words[-3:]) or f"exit status {code}"
    for secret, shown in hide:
        text = text.replace(secret, shown)
    text = text.replace(str(settings.REPOS_DATA_DIR), "<server>")
    return f"git {command} failed: {text}"


def progress_of(line: str) -> float | None:
    """A clone's progress 0..1 from git's last progress line (receiving objects, then resolving deltas)."""
    match = _PROGRESS.search(line or "")
    if match is None:
        return None
    fraction = int(match.group(2)) / 100
    return 0.85 * fraction if match.group(1) == "Receiving objects" else 0.85 + 0.15 * fraction


@dataclass(frozen=True)
class Cloned:
    head: str
    branch: str


def clone(
    git: GitSession,
    remote: Remote,
    dest: Path,
    *,
    ref: str,
    shallow: bool,
    limits: Limits,
    on_tick: Callable[[str], None] | None = None,
) -> Cloned:
    """A bare clone of `remote` at `dest` (which must not exist); its HEAD commit and branch (or tag)."""
    args = ["clone", "--bare", "--progress"]
    if shallow:
        args += ["--depth", "1"]
    if ref:
        args += ["--branch", ref]
    if remote.protocol == "file":
        args.append("--no-local")  # through upload-pack like any remote (and --depth works)
    args += ["--", remote.url, str(dest)]
    hide = [(remote.url, remote.display), (str(dest), "<repository>")]
    git.run(args, on_tick=on_tick, watch=(dest, limits.archive_bytes), hide=hide)
    if _folder_bytes(dest) > limits.archive_bytes:  # finished between two looks of the watch
        raise GitError(
            f"Refused: the repository is larger than {limits.archive_bytes} bytes (REPOS_MAX_ARCHIVE_BYTES)."
        )
    head = git.run(["rev-parse", "--verify", "HEAD^{commit}"], cwd=dest).strip()
    branch = ref
    if not branch:
        branch = git.run(["symbolic-ref", "--short", "HEAD"], cwd=dest).strip()
    return Cloned(head, branch)


class GitTree:
    """The files of a commit of a bare repository, listed and read like an archive's entries (`archives.py`)."""

    def __init__(self, git: GitSession, repository: Path, commit: str, limits: Limits) -> None:
        self.git = git
        self.repository = repository
        self.commit = commit
        self.limits = limits

    def close(self) -> None:
        pass

    def list(self, read_now: Iterable[str] = ()) -> list[Entry]:
        output = self.git.run(["ls-tree", "-r", "-z", "--long", "--full-tree", self.commit], cwd=self.repository)
        entries: list[Entry] = []
        links: list[Entry] = []
        for record in output.split("\0"):
            if not record:
                continue
            meta, _, name = record.partition("\t")
            mode, kind, sha, size = meta.split(maxsplit=3)
            if mode == "120000":
                entry = Entry(name, SYMLINK, int(size), key=sha)
                links.append(entry)
            elif kind == "commit":
                entry = Entry(name, SUBMODULE, 0, key=sha)
            elif kind == "blob":
                entry = Entry(name, FILE, int(size), key=sha)
            else:
                entry = Entry(name, OTHER, 0, key=sha)
            entries.append(entry)
            if len(entries) > self.limits.files:
                raise ImportRefused(f"The repository has more than {self.limits.files} files (REPOS_MAX_FILES).")
        for entry, data in self._cat(links):
            entry.target = data.decode("utf-8", "replace")
        return entries

    def read(self, entries: Iterable[Entry]) -> Iterator[tuple[Entry, bytes]]:
        total = 0
        for entry, data in self._cat(list(entries)):
            total += len(data)
            if total > self.limits.total_bytes:
                raise ImportRefused(
                    f"The repository holds more than {self.limits.total_bytes} bytes (REPOS_MAX_TOTAL_BYTES): refused"
                )
            yield entry, data

    def _cat(self, entries: list[Entry]) -> Iterator[tuple[Entry, bytes]]:
        """Object contents through one `git cat-file --batch`, asked for one at a time."""
        if not entries:
            return
        process = subprocess.Popen(
            ["git", *SAFE_CONFIG, "cat-file", "--batch"],
            cwd=self.repository,
            env=self.git.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            for entry in entries:
                process.stdin.write(f"{entry.key}\n".encode())
                process.stdin.flush()
                header = process.stdout.readline().split()
                if len(header) != 3:
                    raise GitError(f"git cat-file could not read {entry.name}")
                size = int(header[2])
                if size > self.limits.file_bytes:
                    raise ImportRefused(f"{entry.name} is larger than {self.limits.file_bytes} bytes.")
                data = process.stdout.read(size)
                process.stdout.read(1)
                yield entry, data
        finally:
            _kill(process)
            process.wait()
            for pipe in (process.stdin, process.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
