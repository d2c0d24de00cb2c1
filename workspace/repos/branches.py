"""Branches of a workspace's repository: list, create, and switch the live files to another branch (sync code).

Switching is refused while files differ from the last commit (commit them first: nothing is thrown away). It
then brings the other branch's tree into the live documents the way a pull does (`sync.bring_in`): per file
one CRDT edit for everyone, through the documents' one path; a letter typed meanwhile is kept like any live
edit. Before asking, the browser shows who is in the workspace now (`who_is_editing`, from presence).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from workspace.collab import checkpoints
from workspace.collab.attribution import GIT, Author
from workspace.projects.services import notify_tree_changed
from workspace.realtime.presence import online
from workspace.repos import git, sync, working
from workspace.repos.git import GitError
from workspace.repos.models import Repository


def list_branches(workspace_id: int) -> dict:
    """{current, branches (names, sorted), editing (who is in the workspace now)}."""
    repository = working.get_repository(workspace_id)
    with git.session("file") as session:
        output = session.run(["for-each-ref", "--format=%(refname:short)", "refs/heads"], cwd=repository.path)
    names = sorted({line for line in output.splitlines() if line} | {repository.branch})
    return {"current": repository.branch, "branches": names, "editing": who_is_editing(workspace_id)}


def who_is_editing(workspace_id: int) -> list[str]:
    return [entry["username"] for entry in online(workspace_id)]


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


def switch(user: AbstractBaseUser, workspace_id: int, name: str) -> dict:
    """Make `name` the current branch and bring its files into the live documents; returns {branch, commit,
    files}. Refused while there are changes not committed."""
    name = _branch_name(name)
    repository = working.get_repository(workspace_id)
    if name == repository.branch:
        raise GitError(f"{name} is already the current branch.")
    if working.status(workspace_id)["changes"]:
        raise GitError("Commit (or undo) the changed files first: switching would replace them.")
    with git.session("file") as session:
        try:
            target = session.run(["rev-parse", "--verify", f"refs/heads/{name}^{{commit}}"], cwd=repository.path)
        except GitError as exc:
            raise GitError(f"There is no branch {name}.") from exc
        target = target.strip()
        base = working.head_entries(session, repository)
        incoming = working.head_entries(session, repository, target)
        author = Author(user.id, GIT, "", f"switch:{name}")
        checkpoints.auto(workspace_id, f"before switching to branch {name}", user.id)
        files = sync.bring_in(session, repository, base, incoming, author)
        session.run(["symbolic-ref", "HEAD", f"refs/heads/{name}"], cwd=repository.path)
    Repository.objects.filter(id=repository.id).update(branch=name, head_commit=target, synced_at=timezone.now())
    notify_tree_changed(workspace_id)
    return {"branch": name, "commit": target, "files": files}
