"""Push and pull a workspace's repository to and from its remote, as Celery jobs (`GitOperation`, sync code).

Push sends the current branch (commits only: live edits not committed stay live). Pull fetches the remote's
branch and brings it into the live documents while people edit, the way Deep's results are applied: per file a
three-way merge (base = the last commit, theirs = the remote's version, ours = the live text) written as one
CRDT edit through the documents' one path (`collab.merge.merge_into_file`), so nothing typed is lost; where
both sides changed the same lines the live text is kept and the conflict is reported. Files the remote added
are created, files it deleted are removed (unless they were edited here: kept, reported). When the local branch
has commits the remote lacks, the two are merged first into a merge commit (`merges.py`: git's merge-tree, and
where both changed the same lines the three-way merge that keeps this workspace's lines and reports the remote's,
like live-text conflicts). The branch then points at the pulled (or merge) commit, which becomes the new base.

One operation at a time per workspace. One queued or running longer than GIT_OPERATION_TIMEOUT_SECONDS is taken
as dead (its worker died, its message was lost) and marked failed by `reap_stuck_operations` — when another is
asked for, and periodically by every worker (tasks/git.py) — which also removes the git lock files such a killed
git left in the repository. A worker that was only slow finds its operation failed and records nothing more.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from workspace.broadcast import broadcast_to_workspace
from workspace.collab import checkpoints, tombstones
from workspace.collab.attribution import GIT, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.merge import merge_into_file
from workspace.collab.store import load_text
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import (
    FileTreeError,
    NewFile,
    create_files_bulk,
    normalise_path,
    notify_tree_changed,
)
from workspace.repos import git, merges, working
from workspace.repos.blobs import classify, new_blob, stored_bytes
from workspace.repos.models import (
    FINISHED_IMPORT_STATUSES,
    GitOperation,
    GitOperationKind,
    ImportStatus,
    Repository,
    repository_path,
)
from workspace.repos.working import HeadEntry

logger = logging.getLogger(__name__)


def summary(operation: GitOperation) -> dict:
    return {
        "id": operation.id,
        "workspace_id": operation.workspace_id,
        "kind": operation.kind,
        "user": operation.user.get_username() if operation.user_id and operation.user else None,
        "status": operation.status,
        "step": operation.step,
        "progress": operation.progress,
        "result": operation.result,
        "error": operation.error,
    }


def _broadcast(operation_id: int, event: str) -> None:
    """Best effort: an operation never fails because a browser could not be told."""
    try:
        operation = GitOperation.objects.select_related("user").get(id=operation_id)
        broadcast_to_workspace(operation.workspace_id, event, {"operation": summary(operation)})
    except Exception:  # noqa: BLE001
        logger.exception("could not broadcast %s of git operation %s", event, operation_id)


def start(user: AbstractBaseUser, workspace_id: int, kind: str, enqueue) -> GitOperation:
    """Queue a push or pull (the remote must be configured); `enqueue(operation_id)` once committed."""
    if kind not in GitOperationKind.values:
        raise git.GitError(f"Unknown git operation {kind!r}.")
    repository = working.get_repository(workspace_id)
    if not repository.remote_url:
        raise git.GitError("This repository has no remote to push to or pull from.")
    git.parse_remote(repository.remote_url)
    reap_stuck_operations(workspace_id)  # one whose worker died no longer stands in the way
    with transaction.atomic():
        Repository.objects.select_for_update().filter(id=repository.id).values_list("id", flat=True).first()
        # One at a time per workspace.
        busy = GitOperation.objects.filter(
            workspace_id=workspace_id, status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING)
        )
        if busy.exists():
            raise git.GitError("A push or pull of this workspace is already under way: wait for it to finish.")
        operation = GitOperation.objects.create(workspace_id=workspace_id, user=user, kind=kind)
        transaction.on_commit(partial(_broadcast, operation.id, "git.progress"))
        transaction.on_commit(partial(enqueue, operation.id))
    return operation


def reap_stuck_operations(workspace_id: int | None = None) -> list[int]:
    """Mark failed every push or pull (of the workspace, or all) queued or running for longer than
    GIT_OPERATION_TIMEOUT_SECONDS — its worker died or its message was lost — and remove the git lock files such
    an operation left in its repository (as old as that); the ids marked."""
    timeout = settings.GIT_OPERATION_TIMEOUT_SECONDS
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stuck = GitOperation.objects.filter(
        Q(status=ImportStatus.QUEUED, created_at__lt=cutoff) | Q(status=ImportStatus.RUNNING, started_at__lt=cutoff)
    )
    if workspace_id is not None:
        stuck = stuck.filter(workspace_id=workspace_id)
    reaped = []
    for operation in stuck.only("id", "workspace_id", "kind", "status"):
        what = "push" if operation.kind == GitOperationKind.PUSH else "pull"
        error = (
            f"This {what} was {operation.status} for longer than {timeout:g} s (GIT_OPERATION_TIMEOUT_SECONDS): its "
            f"worker stopped, so it was marked failed. Start the {what} again."
        )
        marked = GitOperation.objects.filter(id=operation.id, status=operation.status).update(
            status=ImportStatus.FAILED, finished_at=timezone.now(), step=str(ImportStatus.FAILED), error=error
        )
        if marked:
            reaped.append(operation.id)
            _release_git_locks(operation.workspace_id, cutoff.timestamp())
            _broadcast(operation.id, "git.finished")
            logger.warning("git operation %s reaped: %s", operation.id, error)
    return reaped


def _release_git_locks(workspace_id: int, older_than: float) -> None:
    """git's `*.lock` files (refs, packed-refs, HEAD, config, shallow) left in the bare repository by a killed
    git, if older than `older_than` (epoch seconds): a git command holds one for milliseconds."""
    folder = repository_path(workspace_id)
    candidates = [*(folder / "refs").rglob("*.lock"), *folder.glob("*.lock")] if folder.is_dir() else []
    for lock in candidates:
        try:
            if lock.is_file() and lock.stat().st_mtime < older_than:
                lock.unlink()
                logger.warning("removed stale git lock %s", lock)
        except OSError:
            pass


def _claim(operation_id: int) -> GitOperation | None:
    claimed = GitOperation.objects.filter(id=operation_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    return GitOperation.objects.select_related("user").get(id=operation_id) if claimed else None


def _step(operation: GitOperation, step: str, progress: float) -> None:
    operation.step, operation.progress = step, progress
    GitOperation.objects.filter(id=operation.id).update(step=step, progress=progress)
    _broadcast(operation.id, "git.progress")


def _finish(operation: GitOperation, status: str, *, result: dict | None = None, error: str = "") -> None:
    fields = {"status": status, "finished_at": timezone.now(), "step": str(status), "error": error}
    if result is not None:
        fields["result"] = result
    if status == ImportStatus.SUCCEEDED:
        fields["progress"] = 1.0
    GitOperation.objects.filter(id=operation.id).exclude(status__in=FINISHED_IMPORT_STATUSES).update(**fields)
    _broadcast(operation.id, "git.finished")


def run(operation_id: int) -> str:
    """Run one push or pull to its end (idempotent: an operation already running or finished is left alone)."""
    operation = _claim(operation_id)
    if operation is None:
        return "not claimed"
    try:
        if operation.kind == GitOperationKind.PUSH:
            result = push(operation)
        else:
            result = pull(operation)
    except (git.GitError, FileTreeError) as exc:
        _finish(operation, ImportStatus.FAILED, error=str(exc))
        return "failed"
    except Exception:
        logger.exception("git operation %s failed", operation.id)
        _finish(operation, ImportStatus.FAILED, error="The operation failed unexpectedly (see the server log).")
        return "failed"
    _finish(operation, ImportStatus.SUCCEEDED, result=result)
    if operation.kind == GitOperationKind.PULL:
        notify_tree_changed(operation.workspace_id)
    return "succeeded"


def _session(repository: Repository):
    remote = git.parse_remote(repository.remote_url)
    session = git.session(remote.protocol, deploy_key=repository.deploy_key, known_hosts=repository.known_hosts)
    return remote, session


def push(operation: GitOperation) -> dict:
    repository = working.get_repository(operation.workspace_id)
    if not repository.head_commit:
        raise git.GitError("Nothing to push: commit first.")
    remote, session = _session(repository)
    ref = f"refs/heads/{repository.branch}"
    _step(operation, "pushing", 0.1)
    with session as git_session:
        git_session.run(
            ["push", "--progress", "--", remote.url, f"{repository.head_commit}:{ref}"],
            cwd=repository.path,
            hide=[(remote.url, remote.display)],
        )
    return {"commit": repository.head_commit, "branch": repository.branch}


def _is_ancestor(session: git.GitSession, repository: Repository, older: str, newer: str) -> bool:
    try:
        session.run(["merge-base", "--is-ancestor", older, newer], cwd=repository.path)
    except git.GitError:
        return False
    return True


def pull(operation: GitOperation) -> dict:
    repository = working.get_repository(operation.workspace_id)
    remote, session = _session(repository)
    tracking = f"refs/remotes/origin/{repository.branch}"
    _step(operation, "fetching", 0.1)
    with session as git_session:
        git_session.run(
            ["fetch", "--progress", "--", remote.url, f"+refs/heads/{repository.branch}:{tracking}"],
            cwd=repository.path,
            hide=[(remote.url, remote.display)],
        )
        theirs = git_session.run(["rev-parse", "--verify", f"{tracking}^{{commit}}"], cwd=repository.path).strip()
        head = repository.head_commit
        if head == theirs or (head and _is_ancestor(git_session, repository, theirs, head)):
            return {"commit": head, "up_to_date": True, "files": []}
        target, committed = theirs, {}
        if head and not _is_ancestor(git_session, repository, head, theirs):
            who = operation.user.get_username() if operation.user else "sparkroom"
            merged = merges.merge_commit(git_session, repository, head, theirs, who)
            target, committed = merged.commit, merged.conflicts
        _step(operation, "merging into the live files", 0.5)
        base = working.head_entries(git_session, repository)
        incoming = working.head_entries(git_session, repository, target)
        author = Author(operation.user_id, GIT, "", f"pull:{operation.id}")
        checkpoints.auto(operation.workspace_id, f"before git pull #{operation.id}", operation.user_id)
        # The pull starts writing the live files here (and nowhere else).
        files = _with_commit_conflicts(repository, bring_in(git_session, repository, base, incoming, author), committed)
        working.move_branch(git_session, repository, target)
    # `synced_at` stays: edits not committed yet, made before the pull, are still to be credited by the next commit.
    Repository.objects.filter(id=repository.id).update(head_commit=target)
    return {"commit": target, "up_to_date": False, "files": files}


def _with_commit_conflicts(repository: Repository, outcomes: list[dict], committed: dict[str, dict]) -> list[dict]:
    """The live outcomes, with the conflicts of the merge commit (merges.py) reported on their files the same way."""
    by_path = {outcome["path"]: outcome for outcome in outcomes}
    for path, conflict in sorted(committed.items()):
        where = working.workspace_path(repository, path)
        outcome = by_path.get(where)
        if outcome is None:
            outcome = by_path[where] = {"path": where, "status": "conflict", "conflicts": []}
            outcomes.append(outcome)
        outcome["status"] = "conflict"
        outcome["message"] = conflict["message"]
        outcome["conflicts"] = conflict["conflicts"] + outcome.get("conflicts", [])
    return sorted(outcomes, key=lambda outcome: outcome["path"])


def bring_in(
    session: git.GitSession,
    repository: Repository,
    base: dict[str, HeadEntry],
    incoming: dict[str, HeadEntry],
    author: Author,
) -> list[dict]:
    """Every file the incoming tree changed since `base`, brought into the live files (one CRDT edit each for
    text, merged three-way with the live text); their outcomes."""
    outcomes = []
    workspace = repository.workspace
    origin = f"git:{author.ref}"
    for path in sorted(set(base) | set(incoming)):
        old, new = base.get(path), incoming.get(path)
        if old == new or any(e is not None and e.mode not in working.REGULAR_MODES for e in (old, new)):
            continue
        where = working.workspace_path(repository, path)
        node = FileNode.objects.filter(workspace_id=repository.workspace_id, path=where).first()
        old_bytes = session.run_bytes(["cat-file", "blob", old.sha], cwd=repository.path) if old else b""
        if new is None:
            outcomes.append(remove_unless_edited(node, where, old_bytes, author))
            continue
        new_bytes = session.run_bytes(["cat-file", "blob", new.sha], cwd=repository.path)
        if node is None:
            if old is not None:
                outcomes.append({"path": where, "status": "conflict", "message": "deleted here, changed remotely"})
                continue
            outcomes.append(create_from_bytes(workspace, where, new_bytes, author))
            continue
        if node.is_folder:
            outcomes.append({"path": where, "status": "conflict", "message": f"{where} is a folder here"})
            continue
        if node.kind != FileKind.TEXT:
            outcomes.append(replace_stored(node, where, old_bytes, new_bytes))
            continue
        _, text = classify(new_bytes, 1 << 62)
        if text is None:
            outcomes.append({"path": where, "status": "conflict", "message": "the remote's version is binary"})
            continue
        conflicts = merge_into_file(node.id, old_bytes.decode("utf-8", "replace"), text, origin, author)
        outcomes.append({"path": where, "status": "conflict" if conflicts else "merged", "conflicts": conflicts})
    return outcomes


def remove_unless_edited(node: FileNode | None, where: str, old_bytes: bytes, author: Author) -> dict:
    """Delete the file if its live content is still `old_bytes` (a tombstone for `author` keeps it restorable);
    else keep it (a conflict)."""
    if node is None:
        return {"path": where, "status": "deleted"}
    live = load_text(node.id).encode() if node.kind == FileKind.TEXT else stored_bytes(node)
    if live != old_bytes:
        return {"path": where, "status": "conflict", "message": "deleted remotely, edited here: kept"}
    tombstones.delete_file(node, author.user_id)
    return {"path": where, "status": "deleted"}


def create_from_bytes(workspace, where: str, data: bytes, author: Author) -> dict:
    """A new file of these bytes: a document when they are text, else a stored file."""
    kind, text = classify(data, settings.COLLAB_MAX_DOC_BYTES)
    if text is not None:
        create_file_with_text(workspace, where, text, author=author)
    else:
        with transaction.atomic():
            _, (node,) = create_files_bulk(workspace.id, [NewFile(normalise_path(where), kind, len(data))])
            new_blob(node, data).save()
    return {"path": where, "status": "added"}


def replace_stored(node: FileNode, where: str, old_bytes: bytes, new_bytes: bytes) -> dict:
    """A stored file's bytes replaced, if they are still `old_bytes`; else kept (a conflict)."""
    if stored_bytes(node) != old_bytes:
        return {"path": where, "status": "conflict", "message": "changed here and remotely: kept"}
    new_blob(node, new_bytes).save()
    return {"path": where, "status": "merged"}
