"""Branches of a workspace's repository: list, create, switch the live files to another branch, and undo a switch
(sync code).

Switching is refused while files differ from the last commit (commit them first: nothing is thrown away), and,
while other people are in the workspace (`realtime.presence`), refused without `confirm` naming them
(`ConfirmFirst`): the browser asks the switching user, naming them, and sends `confirm`. The switch first keeps
the live state of every file it will change (`BranchSwitch.before`: a document's exact text or a stored file's
bytes, as a blob written into the bare repository, or "absent"), then brings the other branch's tree into the
live documents the way a pull does (`sync.bring_in`): one server-side CRDT edit per file, stored for the
switching user and fanned out to everyone; a letter typed meanwhile is kept like any live edit.

The latest switch is undoable while the workspace is still where it left it (same branch and commit): the undo
points HEAD back and writes each kept state into its file, again one edit per file, three-way from what the
switch brought in (so the texts come back exactly, and an edit made since the switch is kept, like a pull's).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from workspace.collab import checkpoints
from workspace.collab.attribution import GIT, Author
from workspace.collab.files import create_file_with_text
from workspace.collab.merge import merge_into_file
from workspace.collab.store import load_text
from workspace.projects.models import FileKind, FileNode
from workspace.projects.services import notify_tree_changed
from workspace.realtime.presence import online
from workspace.repos import git, sync, working
from workspace.repos.blobs import stored_bytes
from workspace.repos.git import GitError
from workspace.repos.models import BranchSwitch, Repository
from workspace.repos.working import HeadEntry


class ConfirmFirst(GitError):
    """Other people are in the workspace: switching their files needs the switching user's confirmation."""

    def __init__(self, editing: list[str]) -> None:
        self.editing = editing
        verb = "is" if len(editing) == 1 else "are"
        names = ", ".join(editing)
        super().__init__(f"{names} {verb} editing this workspace: confirm to switch the files for everyone.")


def list_branches(workspace_id: int) -> dict:
    """{current, branches (names, sorted), editing (who is in the workspace now), switch (the undoable one)}."""
    repository = working.get_repository(workspace_id)
    with git.session("file") as session:
        output = session.run(["for-each-ref", "--format=%(refname:short)", "refs/heads"], cwd=repository.path)
    names = sorted({line for line in output.splitlines() if line} | {repository.branch})
    return {
        "current": repository.branch,
        "branches": names,
        "editing": who_is_editing(workspace_id),
        "switch": undoable_switch(workspace_id),
    }


def who_is_editing(workspace_id: int, *, besides: int | None = None) -> list[str]:
    """The names of the people with the workspace open now (but `besides`), sorted."""
    return [entry["username"] for entry in online(workspace_id) if entry["user_id"] != besides]


def _confirmed(workspace_id: int, user: AbstractBaseUser, confirm: bool) -> None:
    editing = who_is_editing(workspace_id, besides=user.id)
    if editing and not confirm:
        raise ConfirmFirst(editing)


def _branch_name(name: str) -> str:
    name = git.check_ref(name)
    if not name:
        raise GitError("Name the branch.")
    return name


def create_branch(workspace_id: int, name: str) -> dict:
    """A new branch at the last commit (the live files stay as they are, on the current branch)."""
    name = _branch_name(name)
    repository = working.get_repository(workspace_id)
    if not repository.head_commit:
        raise GitError("Commit first: a branch starts at a commit.")
    with git.session("file") as session:
        try:
            session.run(["update-ref", f"refs/heads/{name}", repository.head_commit, working.ZERO], cwd=repository.path)
        except GitError as exc:
            raise GitError(f"There is already a branch {name}.") from exc
    return list_branches(workspace_id)


def switch(user: AbstractBaseUser, workspace_id: int, name: str, *, confirm: bool = False) -> dict:
    """Make `name` the current branch and bring its files into the live documents; returns {branch, commit,
    files, switch (its id, for the undo)}. Refused while there are changes not committed, and without `confirm`
    while others are in the workspace (ConfirmFirst, naming them)."""
    name = _branch_name(name)
    repository = working.get_repository(workspace_id)
    if name == repository.branch:
        raise GitError(f"{name} is already the current branch.")
    if working.status(workspace_id)["changes"]:
        raise GitError("Commit (or undo) the changed files first: switching would replace them.")
    _confirmed(workspace_id, user, confirm)
    with git.session("file") as session:
        try:
            target = session.run(["rev-parse", "--verify", f"refs/heads/{name}^{{commit}}"], cwd=repository.path)
        except GitError as exc:
            raise GitError(f"There is no branch {name}.") from exc
        target = target.strip()
        base = working.head_entries(session, repository)
        incoming = working.head_entries(session, repository, target)
        record = BranchSwitch.objects.create(
            workspace_id=workspace_id,
            user=user,
            from_branch=repository.branch,
            from_commit=repository.head_commit,
            to_branch=name,
            to_commit=target,
            before=_live_before(session, repository, base, incoming),
        )
        checkpoints.auto(workspace_id, f"before switching to branch {name}", user.id)
        # The switch starts writing the live files here (and nowhere else).
        author = Author(user.id, GIT, "", f"switch:{record.id}")
        files = sync.bring_in(session, repository, base, incoming, author)
        session.run(["symbolic-ref", "HEAD", f"refs/heads/{name}"], cwd=repository.path)
    Repository.objects.filter(id=repository.id).update(branch=name, head_commit=target, synced_at=timezone.now())
    notify_tree_changed(workspace_id)
    return {"branch": name, "commit": target, "files": files, "switch": record.id}


def _changed_paths(base: dict[str, HeadEntry], incoming: dict[str, HeadEntry]) -> list[str]:
    """The repository paths `sync.bring_in` writes when going from `base` to `incoming`."""
    return [
        path
        for path in sorted(set(base) | set(incoming))
        if base.get(path) != incoming.get(path)
        and all(e is None or e.mode in working.REGULAR_MODES for e in (base.get(path), incoming.get(path)))
    ]


def _live_before(
    session: git.GitSession, repository: Repository, base: dict[str, HeadEntry], incoming: dict[str, HeadEntry]
) -> dict[str, dict]:
    """The live state of every file the switch will write, by workspace path."""
    wheres = [working.workspace_path(repository, path) for path in _changed_paths(base, incoming)]
    nodes = {n.path: n for n in FileNode.objects.filter(workspace_id=repository.workspace_id, path__in=wheres)}
    kept: dict[str, dict] = {}
    for where in wheres:
        node = nodes.get(where)
        if node is None:
            kept[where] = {"absent": True}
        elif node.is_folder:
            continue  # bring_in leaves a folder alone
        elif node.kind == FileKind.TEXT:
            kept[where] = {"text": _keep(session, repository, load_text(node.id).encode("utf-8"))}
        else:
            kept[where] = {"blob": _keep(session, repository, stored_bytes(node))}
    return kept


def _keep(session: git.GitSession, repository: Repository, data: bytes) -> str:
    """The bytes written as a blob of the repository (usually one it has: the files were as committed)."""
    return session.run(["hash-object", "-w", "--stdin"], cwd=repository.path, input=data).strip()


def undoable_switch(workspace_id: int) -> dict | None:
    """The latest switch, if the workspace is still where it left it: {id, from_branch, to_branch, user}."""
    record = BranchSwitch.objects.filter(workspace_id=workspace_id).select_related("user").first()
    repository = Repository.objects.filter(workspace_id=workspace_id).first()
    if record is None or repository is None or _why_not_undoable(record, repository):
        return None
    return {
        "id": record.id,
        "from_branch": record.from_branch,
        "to_branch": record.to_branch,
        "user": record.user.get_username() if record.user else None,
    }


def _why_not_undoable(record: BranchSwitch, repository: Repository) -> str:
    if record.undone_at is not None:
        return "That switch was undone already."
    if BranchSwitch.objects.filter(workspace_id=record.workspace_id, id__gt=record.id).exists():
        return "Only the latest switch can be undone."
    if (repository.branch, repository.head_commit) != (record.to_branch, record.to_commit):
        return f"The workspace moved on since that switch (a commit, pull or switch): switch to {record.from_branch}."
    return ""


def undo_switch(user: AbstractBaseUser, workspace_id: int, switch_id: int, *, confirm: bool = False) -> dict:
    """Switch back to the branch a switch left and write back the live state it kept; returns {branch, commit,
    files, undone}. Refused when it is not the latest switch or the workspace moved on since, and without
    `confirm` while others are in the workspace (ConfirmFirst)."""
    repository = working.get_repository(workspace_id)
    record = BranchSwitch.objects.filter(id=switch_id, workspace_id=workspace_id).first()
    if record is None:
        raise GitError("There is no such branch switch in this workspace.")
    reason = _why_not_undoable(record, repository)
    if reason:
        raise GitError(reason)
    _confirmed(workspace_id, user, confirm)
    with git.session("file") as session:
        if record.from_commit:
            moved = session.run(["rev-parse", "--verify", f"refs/heads/{record.from_branch}"], cwd=repository.path)
            if moved.strip() != record.from_commit:
                raise GitError(f"{record.from_branch} moved since the switch: switch to it instead.")
        with transaction.atomic():
            if not BranchSwitch.objects.filter(id=record.id, undone_at=None).update(
                undone_at=timezone.now(), undone_by=user
            ):
                raise GitError("That switch was undone already.")
        switched = working.head_entries(session, repository, record.to_commit)
        author = Author(user.id, GIT, "", f"undo-switch:{record.id}")
        checkpoints.auto(workspace_id, f"before undoing the switch to branch {record.to_branch}", user.id)
        # The undo starts writing the live files here (and nowhere else).
        kept_states = sorted(record.before.items())
        files = [_restore(session, repository, where, kept, switched, author) for where, kept in kept_states]
        session.run(["symbolic-ref", "HEAD", f"refs/heads/{record.from_branch}"], cwd=repository.path)
    Repository.objects.filter(id=repository.id).update(
        branch=record.from_branch, head_commit=record.from_commit, synced_at=timezone.now()
    )
    notify_tree_changed(workspace_id)
    return {"branch": record.from_branch, "commit": record.from_commit, "files": files, "undone": record.id}


def _restore(
    session: git.GitSession,
    repository: Repository,
    where: str,
    kept: dict,
    switched: dict[str, HeadEntry],
    author: Author,
) -> dict:
    """Write one file's kept state back: three-way from what the switch brought in, so edits since are kept."""
    relative = where[len(repository.root) + 1 :] if repository.root else where
    entry = switched.get(relative)
    brought = session.run_bytes(["cat-file", "blob", entry.sha], cwd=repository.path) if entry else None
    node = FileNode.objects.filter(workspace_id=repository.workspace_id, path=where).first()
    if kept.get("absent"):
        return sync.remove_unless_edited(node, where, brought if brought is not None else b"", author)
    data = _blob(session, repository, kept["text"] if "text" in kept else kept["blob"])
    if node is None:
        if "text" in kept:
            create_file_with_text(repository.workspace, where, data.decode("utf-8"), author=author)
            return {"path": where, "status": "added"}
        return sync.create_from_bytes(repository.workspace, where, data, author)
    if node.is_folder:
        return {"path": where, "status": "conflict", "message": f"{where} is a folder now"}
    if (node.kind == FileKind.TEXT) != ("text" in kept):
        return {"path": where, "status": "conflict", "message": "a document here, a stored file before (or back)"}
    if "blob" in kept:
        return sync.replace_stored(node, where, brought if brought is not None else b"", data)
    base = brought.decode("utf-8", "replace") if brought is not None else ""
    conflicts = merge_into_file(node.id, base, data.decode("utf-8"), f"git:{author.ref}", author)
    return {"path": where, "status": "conflict" if conflicts else "merged", "conflicts": conflicts}


def _blob(session: git.GitSession, repository: Repository, sha: str) -> bytes:
    return session.run_bytes(["cat-file", "blob", sha], cwd=repository.path)
