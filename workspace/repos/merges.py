"""A pull onto local commits the remote lacks: the merge commit of local HEAD and the remote's commit (sync code).

git merges the two histories' trees (`merge-tree --write-tree`: renames, modes and every clean file). Where both
changed the same lines of a text file, that file is merged again here by the three-way merge the live documents
use (`collab.merge.merge3`: base = the merge base's version, ours = HEAD's, theirs = the remote's): the clean
hunks of both are taken, and where they conflict this workspace's lines are kept and the conflict is reported
with all three versions — the same way a pull reports live-text conflicts. A file changed on one side and
deleted on the other, or binary on both, keeps this workspace's version and is reported. Nothing is lost: the
merge commit has both commits as parents, so the remote's lines stay in the history, and the report shows them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from workspace.collab.merge import merge3
from workspace.repos import git, working
from workspace.repos.models import Repository

OURS, THEIRS, BASE = 2, 3, 1


@dataclass
class Merged:
    commit: str
    # By repository path: {"message", "conflicts": [{line, base, ours, theirs}]}, for the files git could not merge.
    conflicts: dict[str, dict] = field(default_factory=dict)


def merge_commit(session: git.GitSession, repository: Repository, head: str, theirs: str, who: str) -> Merged:
    """The merge commit of `head` and `theirs` (author and committer `who`), conflicts resolved as above."""
    cwd = repository.path
    output = session.run(["merge-tree", "--write-tree", "-z", head, theirs], cwd=cwd, allowed=(0, 1))
    records = output.split("\0")
    tree, stages = records[0].strip(), _stages(records[1:])
    merged = Merged("")
    if stages:
        tree = _resolve(session, repository, tree, stages, merged)
    email = f"{who}@users.sparkroom.invalid"
    people = {
        "GIT_AUTHOR_NAME": who,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": who,
        "GIT_COMMITTER_EMAIL": email,
    }
    message = f"Merge {repository.branch} of {repository.remote_url}\n"
    if merged.conflicts:
        message += "\nConflicts (this workspace's lines kept, the remote's in the other parent):\n"
        message += "".join(f"\t{path}\n" for path in sorted(merged.conflicts))
    merged.commit = session.run(
        ["commit-tree", tree, "-p", head, "-p", theirs, "-F", "-"], cwd=cwd, env=people, input=message.encode()
    ).strip()
    return merged


def _stages(records: list[str]) -> dict[str, dict[int, tuple[str, str]]]:
    """merge-tree's conflicted file info (`<mode> <sha> <stage>\\t<path>`, up to an empty record), by path."""
    stages: dict[str, dict[int, tuple[str, str]]] = {}
    for record in records:
        if not record:
            break
        meta, _, path = record.partition("\t")
        mode, sha, stage = meta.split()
        stages.setdefault(path, {})[int(stage)] = (mode, sha)
    return stages


def _text(session: git.GitSession, repository: Repository, entry: tuple[str, str] | None) -> str | None:
    if entry is None:
        return ""
    if entry[0] not in working.REGULAR_MODES:
        return None
    try:
        return session.run_bytes(["cat-file", "blob", entry[1]], cwd=repository.path).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _resolve(
    session: git.GitSession,
    repository: Repository,
    tree: str,
    stages: dict[str, dict[int, tuple[str, str]]],
    merged: Merged,
) -> str:
    """`tree` with every conflicted path replaced by its resolution; fills `merged.conflicts`."""
    records = []
    for path, entries in sorted(stages.items()):
        ours, theirs = entries.get(OURS), entries.get(THEIRS)
        if ours is None or theirs is None:
            what = "deleted here, changed remotely" if ours is None else "changed here, deleted remotely"
            merged.conflicts[path] = {"message": f"{what}: this workspace's kept", "conflicts": []}
            records.append(f"{ours[0]} {ours[1]}\t{path}" if ours else f"0 {working.ZERO}\t{path}")
            continue
        texts = [_text(session, repository, entries.get(stage)) for stage in (BASE, OURS, THEIRS)]
        if any(text is None for text in texts):
            merged.conflicts[path] = {"message": "changed on both sides, not text: this workspace's kept"}
            merged.conflicts[path]["conflicts"] = []
            records.append(f"{ours[0]} {ours[1]}\t{path}")
            continue
        result = merge3(*texts)
        sha = session.run(["hash-object", "-w", "--stdin"], cwd=repository.path, input=result.text.encode()).strip()
        records.append(f"{ours[0]} {sha}\t{path}")
        if result.conflicts:
            merged.conflicts[path] = {
                "message": "the remote's commits and this workspace's change the same lines: this workspace's kept",
                "conflicts": [conflict.as_dict() for conflict in result.conflicts],
            }
    tmp = Path(settings.REPOS_DATA_DIR) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=tmp) as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        session.run(["read-tree", tree], cwd=repository.path, env=index)
        session.run(
            ["update-index", "-z", "--index-info"],
            cwd=repository.path,
            env=index,
            input=b"".join(record.encode("utf-8") + b"\0" for record in records),
        )
        return session.run(["write-tree"], cwd=repository.path, env=index).strip()
