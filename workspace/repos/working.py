"""The live files as the work tree of the workspace's repository: what changed since HEAD, a file's HEAD text,
initialising a repository, and committing (sync ORM and git code).

The repository is bare: there is no checkout on disk. The live documents are the work tree, read at one instant
with the export's snapshot (`export.take_snapshot`), and compared with HEAD's tree by git blob ids (hashed here
the way git hashes a blob). A commit writes the chosen files' live bytes as blobs, builds the tree in a private
index started from HEAD (`read-tree`, `update-index`, `write-tree`), makes the commit (`commit-tree`, author the
committing user, every other contributor to the changed lines since the last commit a `Co-authored-by:` trailer,
see repos.coauthors) and moves the branch
only if nobody moved it meanwhile (`update-ref <new> <old>`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from workspace.collab.attribution import Contributor, email_of
from workspace.collab.ydoc import doc_from_updates, doc_text
from workspace.projects.models import FileKind, FileNode
from workspace.repos import coauthors, export, git
from workspace.repos.git import GitError
from workspace.repos.models import Repository, repository_path

ADDED, MODIFIED, DELETED = "added", "modified", "deleted"
ZERO = "0" * 40
REGULAR_MODES = ("100644", "100755")
MAX_MESSAGE_CHARS = 10_000


@dataclass(frozen=True)
class HeadEntry:
    mode: str
    sha: str


@dataclass
class LiveTree:
    """The live files under the repository's root, by repository path, as of one instant."""

    files: dict[str, bytes]
    taken_at: datetime


@dataclass(frozen=True)
class Change:
    path: str  # in the repository
    workspace_path: str
    status: str


def get_repository(workspace_id: int) -> Repository:
    repository = Repository.objects.filter(workspace_id=workspace_id).first()
    if repository is None:
        raise GitError("This workspace has no git repository: initialise one first.")
    return repository


def blob_sha(data: bytes) -> str:
    """The id git gives a blob of these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def workspace_path(repository: Repository, path: str) -> str:
    return f"{repository.root}/{path}" if repository.root else path


def head_entries(session: git.GitSession, repository: Repository, commit: str | None = None) -> dict[str, HeadEntry]:
    """Every entry of the commit's tree (HEAD's by default) by path; {} before a first commit."""
    commit = repository.head_commit if commit is None else commit
    if not commit:
        return {}
    output = session.run(["ls-tree", "-r", "-z", "--full-tree", commit], cwd=repository.path)
    entries = {}
    for record in output.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            mode, _kind, sha = meta.split()
            entries[path] = HeadEntry(mode, sha)
    return entries


def live_tree(repository: Repository) -> LiveTree:
    """The live files below the repository's root (text documents as UTF-8, stored files as stored); `taken_at`
    is just before the instant read, so an edit made meanwhile counts for the next commit too, never for none."""
    taken_at = timezone.now()
    try:
        snapshot = export.take_snapshot(repository.workspace_id, repository.root)
    except export.ExportError as exc:
        raise GitError(f"The repository's folder is gone from the workspace: {exc}") from exc
    prefix = f"{repository.root}/" if repository.root else ""
    files: dict[str, bytes] = {}
    for path, parts in snapshot.documents.items():
        files[path[len(prefix) :]] = str(doc_text(doc_from_updates(parts))).encode("utf-8")
    for path, data in snapshot.blobs.items():
        files[path[len(prefix) :]] = data
    return LiveTree(files, taken_at)


def compare(repository: Repository, head: dict[str, HeadEntry], live: LiveTree) -> list[Change]:
    """Files added, modified or deleted in the live tree since HEAD (symlinks and submodules of HEAD are kept
    as they are: the workspace does not hold them)."""
    changes = []
    for path, data in live.files.items():
        entry = head.get(path)
        if entry is None:
            changes.append(Change(path, workspace_path(repository, path), ADDED))
        elif entry.mode in REGULAR_MODES and entry.sha != blob_sha(data):
            changes.append(Change(path, workspace_path(repository, path), MODIFIED))
    for path, entry in head.items():
        if entry.mode in REGULAR_MODES and path not in live.files:
            changes.append(Change(path, workspace_path(repository, path), DELETED))
    return sorted(changes, key=lambda change: change.path)


def describe(repository: Repository) -> dict:
    return {
        "branch": repository.branch,
        "head_commit": repository.head_commit,
        "remote_url": repository.remote_url,
        "root": repository.root,
    }


def status(workspace_id: int) -> dict:
    """The repository and the files that differ from its HEAD: {branch, head_commit, remote_url, root, changes}."""
    repository = get_repository(workspace_id)
    with git.session("file") as session:
        head = head_entries(session, repository)
    changes = compare(repository, head, live_tree(repository))
    ids = dict(
        FileNode.objects.filter(
            workspace_id=workspace_id, path__in=[change.workspace_path for change in changes]
        ).values_list("path", "id")
    )
    return {
        **describe(repository),
        "changes": [
            {"path": c.workspace_path, "status": c.status, "file_id": ids.get(c.workspace_path)} for c in changes
        ],
    }


def diff(workspace_id: int, path: str) -> dict:
    """A file's text at HEAD and live (None where it does not exist; `binary` when either is not UTF-8 text)."""
    repository = get_repository(workspace_id)
    relative = _repository_path(repository, path)
    with git.session("file") as session:
        entry = head_entries(session, repository).get(relative)
        head = _cat(session, repository, entry.sha) if entry and entry.mode in REGULAR_MODES else None
    live = live_tree(repository).files.get(relative)
    head_text, live_text = _as_text(head), _as_text(live)
    binary = (head is not None and head_text is None) or (live is not None and live_text is None)
    return {"path": path, "head": head_text, "live": live_text, "binary": binary}


def _repository_path(repository: Repository, path: str) -> str:
    path = (path or "").strip().strip("/")
    if repository.root:
        if not path.startswith(repository.root + "/"):
            raise GitError(f"{path} is not in the repository's folder {repository.root}.")
        path = path[len(repository.root) + 1 :]
    if not path:
        raise GitError("Name a file.")
    return path


def _cat(session: git.GitSession, repository: Repository, sha: str) -> bytes:
    return session.run_bytes(["cat-file", "blob", sha], cwd=repository.path)


def _as_text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _tmp_dir() -> Path:
    tmp = Path(settings.REPOS_DATA_DIR) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    return tmp


# Initialise ---------------------------------------------------------------------------------------------
def initialise(user: AbstractBaseUser, workspace_id: int, *, remote_url: str = "", branch: str = "main") -> dict:
    """A new, empty bare repository for a workspace that has none (every file then shows as added)."""
    branch = git.check_ref(branch) or "main"
    remote = git.parse_remote(remote_url) if remote_url.strip() else None
    path = repository_path(workspace_id)
    with transaction.atomic():
        if Repository.objects.select_for_update().filter(workspace_id=workspace_id).exists():
            raise GitError("This workspace already has a git repository.")
        if path.exists():  # left by a repository whose row is gone
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with git.session("file") as session:
            session.run(["init", "--bare", "-q", f"--initial-branch={branch}", str(path)])
        repository = Repository.objects.create(
            workspace_id=workspace_id,
            remote_url=remote.display if remote else "",
            branch=branch,
            head_commit="",
            shallow=False,
            created_by=user,
        )
    return describe(repository)


# Commit -------------------------------------------------------------------------------------------------
def _identity(user: AbstractBaseUser) -> tuple[str, str]:
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return name or user.get_username(), email_of(user)


def commit_message(message: str, contributors: Iterable[Contributor]) -> str:
    """The message with a `Co-authored-by:` trailer for every contributor."""
    trailers = [f"Co-authored-by: {contributor.name} <{contributor.email}>" for contributor in contributors]
    text = message.strip() + "\n"
    if trailers:
        text += "\n" + "\n".join(trailers) + "\n"
    return text


def _co_authors(
    session: git.GitSession, repository: Repository, head: dict[str, HeadEntry], changes: list[Change], user
) -> list[Contributor]:
    """Who wrote the changed lines of these files since the last commit (repos.coauthors), `user` left out."""
    nodes = dict(
        FileNode.objects.filter(
            workspace_id=repository.workspace_id,
            kind=FileKind.TEXT,
            path__in=[c.workspace_path for c in changes if c.status != DELETED],
        ).values_list("path", "id")
    )
    texts = []
    for change in changes:
        if change.workspace_path not in nodes:
            continue
        entry = head.get(change.path)
        before = _cat(session, repository, entry.sha) if entry and entry.mode in REGULAR_MODES else b""
        texts.append((nodes[change.workspace_path], before.decode("utf-8", "replace")))
    return coauthors.co_authors(texts, repository.synced_at, user.id)


def commit(user: AbstractBaseUser, workspace_id: int, message: str, paths: list[str] | None = None) -> dict:
    """Commit the live text of the changed files (all, or those of `paths`) on the current branch as `user`;
    returns {commit, branch, files, message}. Raises GitError (nothing to commit, someone committed meanwhile)."""
    message = (message or "").strip()
    if not message:
        raise GitError("Write a commit message.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise GitError(f"The commit message is longer than {MAX_MESSAGE_CHARS} characters.")
    repository = get_repository(workspace_id)
    with git.session("file") as session:
        head = head_entries(session, repository)
        live = live_tree(repository)
        changes = compare(repository, head, live)
        if paths is not None:
            wanted = set(paths)
            changes = [change for change in changes if change.workspace_path in wanted]
        if not changes:
            raise GitError("Nothing to commit: the chosen files are as in the last commit.")
        text = commit_message(message, _co_authors(session, repository, head, changes, user))
        new_commit = _write_commit(session, repository, head, live, changes, text, _identity(user))
    Repository.objects.filter(id=repository.id).update(head_commit=new_commit, synced_at=live.taken_at)
    return {
        "commit": new_commit,
        "branch": repository.branch,
        "files": [{"path": c.workspace_path, "status": c.status} for c in changes],
        "message": text,
    }


def _write_commit(
    session: git.GitSession,
    repository: Repository,
    head: dict[str, HeadEntry],
    live: LiveTree,
    changes: list[Change],
    message: str,
    identity: tuple[str, str],
) -> str:
    cwd = repository.path
    written = [change for change in changes if change.status != DELETED]
    with tempfile.TemporaryDirectory(dir=_tmp_dir()) as scratch:
        folder = Path(scratch)
        index_env = {"GIT_INDEX_FILE": str(folder / "index")}
        if repository.head_commit:
            session.run(["read-tree", repository.head_commit], cwd=cwd, env=index_env)
        listing = []
        for number, change in enumerate(written):
            content = folder / f"blob-{number}"
            content.write_bytes(live.files[change.path])
            listing.append(str(content))
        shas = []
        if listing:
            output = session.run(
                ["hash-object", "-w", "--no-filters", "--stdin-paths"], cwd=cwd, input="\n".join(listing).encode()
            )
            shas = output.split()
        records = []
        for change, sha in zip(written, shas, strict=True):
            mode = head[change.path].mode if change.path in head else "100644"
            records.append(f"{mode} {sha}\t{change.path}")
        for change in changes:
            if change.status == DELETED:
                records.append(f"0 {ZERO}\t{change.path}")
        session.run(
            ["update-index", "-z", "--index-info"],
            cwd=cwd,
            env=index_env,
            input=b"".join(record.encode("utf-8") + b"\0" for record in records),
        )
        tree = session.run(["write-tree"], cwd=cwd, env=index_env).strip()
    name, email = identity
    people = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    parents = ["-p", repository.head_commit] if repository.head_commit else []
    new_commit = session.run(
        ["commit-tree", tree, *parents, "-F", "-"], cwd=cwd, env=people, input=message.encode("utf-8")
    ).strip()
    move_branch(session, repository, new_commit)
    return new_commit


def move_branch(session: git.GitSession, repository: Repository, new_commit: str) -> None:
    """Point the branch at `new_commit`, only if it still points where this repository's row says."""
    try:
        session.run(
            ["update-ref", f"refs/heads/{repository.branch}", new_commit, repository.head_commit or ZERO],
            cwd=repository.path,
        )
    except GitError as exc:
        raise GitError("Someone else moved the branch meanwhile: look at the changes again and retry.") from exc
