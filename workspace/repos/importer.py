"""Imports into a workspace: started by the edges (an uploaded archive or a git URL), run by a Celery worker.

`run_import` (task `repos.import`, argument: the import's id) claims the import with one conditional UPDATE
(queued, or running with a stale heartbeat), so a duplicated message never runs it twice. It lists the source
(the archive, or the tree of a fresh bare clone: `git.py`), plans it (`plan.py`), reads the planned entries in
the source's order and writes them in batches. A batch is one transaction: the nodes
(`projects.services.create_files_bulk`), the live documents' initial text (through the collab store, one call
site: `_initial_texts`), the blobs, and the import's progress and created ids. So a batch is all or nothing, and
a failure (a limit passed half-way, a dead worker found by `reap_stale_imports`) removes exactly what the import
created (`undo`). Progress goes to the row and to the workspace's browsers (`events.py`) after each batch and
about every second of a clone. A clone ends by moving the bare repository into place and creating its
`Repository` row under a lock of the workspace row.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from workspace.collab import store
from workspace.collab.ydoc import doc_text, new_doc
from workspace.projects.guard import require_role
from workspace.projects.models import FileKind, FileNode, Role, Workspace
from workspace.projects.services import (
    FileTreeError,
    NewFile,
    create_files_bulk,
    existing_paths,
    nodes_below,
    normalise_path,
    notify_tree_changed,
)
from workspace.repos import events, git
from workspace.repos.archives import ImportRefused, Limits, open_archive
from workspace.repos.blobs import classify, new_blob
from workspace.repos.ignore import IGNORE_FILE
from workspace.repos.models import (
    FINISHED_IMPORT_STATUSES,
    Blob,
    ImportJob,
    ImportSource,
    ImportStatus,
    Repository,
    known_hosts_path,
    repository_path,
)
from workspace.repos.plan import Plan, clash_with, make_plan

logger = logging.getLogger(__name__)

BATCH_FILES = 250
BATCH_BYTES = 16 * 1024 * 1024
MAX_SKIPPED_SHOWN = 500
MAX_ATTEMPTS = 2
BROADCAST_INTERVAL = 0.25
SAVE_INTERVAL = 1.0
LIST_LIMIT = 20
UPLOAD_CHUNK = 1024 * 1024
REPOSITORY_EXISTS = "This workspace already has a git repository: import more files as an archive instead."


class ImportRequestError(ValueError):
    """An import that cannot be started; the message is for the user."""


class ArchiveTooLarge(ImportRequestError):
    pass


def uploads_dir() -> Path:
    return Path(settings.REPOS_DATA_DIR) / "uploads"


# --- starting an import (the edges) -----------------------------------------------------------------------------


def _check_into(workspace_id: int, into: str) -> str:
    if not (into or "").strip():
        return ""
    try:
        into = normalise_path(into)
    except FileTreeError as exc:
        raise ImportRequestError(str(exc)) from exc
    if FileNode.objects.filter(workspace_id=workspace_id, path=into, is_folder=False).exists():
        raise ImportRequestError(f"{into!r} is a file: import into a folder.")
    return into


Enqueue = Callable[[int], None]


def create_archive_import(
    user: AbstractBaseUser, workspace_id: int, upload: UploadedFile, *, into: str = "", enqueue: Enqueue | None = None
) -> ImportJob:
    """Keep an uploaded archive (a multipart field) for the worker and queue its import with `enqueue` (the Celery
    edge hands it in: `tasks.repos.enqueue`; without it the import waits for whoever runs it)."""
    save = partial(_save_upload, upload)
    return _create_archive_import(
        user, workspace_id, name=upload.name or "", size=upload.size, save=save, into=into, enqueue=enqueue
    )


def create_archive_import_from_body(
    user: AbstractBaseUser,
    workspace_id: int,
    body: BinaryIO,
    size: int | None,
    *,
    name: str = "",
    into: str = "",
    enqueue: Enqueue | None = None,
) -> ImportJob:
    """The same for an archive sent as the request body itself (`size`: its Content-Length, if any)."""
    save = partial(_save_stream, body, settings.REPOS_MAX_ARCHIVE_BYTES)
    return _create_archive_import(user, workspace_id, name=name, size=size or 0, save=save, into=into, enqueue=enqueue)


def _create_archive_import(
    user: AbstractBaseUser,
    workspace_id: int,
    *,
    name: str,
    size: int,
    save: Callable[[Path], None],
    into: str,
    enqueue: Enqueue | None,
) -> ImportJob:
    require_role(user, workspace_id, Role.EDITOR)
    into = _check_into(workspace_id, into)
    limit = settings.REPOS_MAX_ARCHIVE_BYTES
    if size > limit:
        raise ArchiveTooLarge(f"The archive is {size} bytes; the limit is {limit} (REPOS_MAX_ARCHIVE_BYTES).")
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = os.path.basename((name or "archive").replace("\\", "/"))[:255] or "archive"
    saved: Path | None = None
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                workspace_id=workspace_id, user=user, source=ImportSource.ARCHIVE, name=name, into=into
            )
            saved = folder / f"import-{job.id}-{secrets.token_hex(8)}"
            save(saved)
            job.upload = saved.name
            job.save(update_fields=["upload"])
            transaction.on_commit(partial(_announce_and_enqueue, job.id, enqueue))
    except BaseException:
        if saved is not None:
            saved.unlink(missing_ok=True)
        raise
    return job


def _save_upload(upload: UploadedFile, target: Path) -> None:
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        try:
            os.link(temporary(), target)  # same file system: no copy
            return
        except OSError:
            pass
    with open(target, "xb") as handle:
        for chunk in upload.chunks(UPLOAD_CHUNK):
            handle.write(chunk)


def _save_stream(body: BinaryIO, limit: int, target: Path) -> None:
    written = 0
    with open(target, "xb") as handle:
        while chunk := body.read(UPLOAD_CHUNK):
            written += len(chunk)
            if written > limit:
                raise ArchiveTooLarge(f"The archive is larger than {limit} bytes (REPOS_MAX_ARCHIVE_BYTES).")
            handle.write(chunk)
    if not written:
        raise ImportRequestError("The request body is empty: send the archive.")


def create_git_import(
    user: AbstractBaseUser,
    workspace_id: int,
    *,
    git_url: str,
    ref: str = "",
    shallow: bool = True,
    deploy_key: str = "",
    into: str = "",
    enqueue: Enqueue | None = None,
) -> ImportJob:
    """Check the clone request and queue it (see `create_archive_import`); the clone itself runs on a worker."""
    require_role(user, workspace_id, Role.EDITOR)
    remote = git.parse_remote(git_url)
    ref = git.check_ref(ref)
    key = git.check_deploy_key(deploy_key, remote)
    into = _check_into(workspace_id, into)
    if Repository.objects.filter(workspace_id=workspace_id).exists():
        raise ImportRequestError(REPOSITORY_EXISTS)
    with transaction.atomic():
        job = ImportJob.objects.create(
            workspace_id=workspace_id,
            user=user,
            source=ImportSource.GIT,
            name=remote.display[:1000],
            ref=ref,
            shallow=shallow,
            deploy_key=key,
            into=into,
        )
        transaction.on_commit(partial(_announce_and_enqueue, job.id, enqueue))
    return job


def _announce_and_enqueue(import_id: int, enqueue: Enqueue | None) -> None:
    job = ImportJob.objects.select_related("user").get(id=import_id)
    events.broadcast(job, "import.progress")
    if enqueue is not None:
        enqueue(import_id)


def get_import(user: AbstractBaseUser, import_id: int) -> ImportJob:
    job = ImportJob.objects.select_related("user").filter(id=import_id).first()
    if job is None:
        raise ImportJob.DoesNotExist(f"no import {import_id}")
    require_role(user, job.workspace_id, Role.VIEWER)
    return job


def list_imports(user: AbstractBaseUser, workspace_id: int) -> list[dict]:
    require_role(user, workspace_id, Role.VIEWER)
    jobs = ImportJob.objects.filter(workspace_id=workspace_id).select_related("user")[:LIST_LIMIT]
    return [events.summary(job) for job in jobs]


# --- running it (the worker) -------------------------------------------------------------------------------------


class Reporter:
    """Writes an import's step and progress (a share of the current stage) and tells the browsers, throttled."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.span = (0.0, 1.0)
        self.sent_at = 0.0
        self.saved_at = 0.0

    def stage(self, step: str, start: float, end: float) -> None:
        self.span = (start, end)
        self.job.step, self.job.progress = step, start
        self._save(force=True)

    def within(self, fraction: float) -> float:
        start, end = self.span
        return round(start + (end - start) * min(max(fraction, 0.0), 1.0), 4)

    def cloning(self, line: str) -> None:
        fraction = git.progress_of(line)
        if fraction is not None:
            self.job.progress = self.within(fraction)
        self._save()

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.saved_at >= SAVE_INTERVAL:
            self.saved_at = now
            ImportJob.objects.filter(id=self.job.id).update(step=self.job.step, progress=self.job.progress)
        self.tell(force)

    def tell(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.sent_at >= BROADCAST_INTERVAL:
            self.sent_at = now
            events.broadcast(self.job, "import.progress")


class Heartbeat(threading.Thread):
    """Writes the running import's heartbeat whatever the import is doing (a long clone, a long stretch of
    ignored entries), so only a dead worker's import goes stale."""

    def __init__(self, import_id: int) -> None:
        super().__init__(name=f"import-{import_id}-heartbeat", daemon=True)
        self.import_id = import_id
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import connection

        interval = max(settings.REPOS_IMPORT_STALE_SECONDS / 6, 0.5)
        try:
            while not self.stopped.wait(interval):
                try:
                    ImportJob.objects.filter(id=self.import_id, status=ImportStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # noqa: BLE001 - the next beat tries again
                    logger.warning("import %s: heartbeat not written", self.import_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def claim(import_id: int) -> ImportJob | None:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.REPOS_IMPORT_STALE_SECONDS)
    claimed = (
        ImportJob.objects.filter(id=import_id)
        .filter(Q(status=ImportStatus.QUEUED) | Q(status=ImportStatus.RUNNING, heartbeat_at__lt=stale))
        .update(status=ImportStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)
    )
    if not claimed:
        return None
    return ImportJob.objects.select_related("user").get(id=import_id)


def run_import(import_id: int) -> str:
    """Run one import to its end (idempotent: an import already running or finished is left alone)."""
    job = claim(import_id)
    if job is None:
        return "not claimed"
    reporter = Reporter(job)
    heartbeat = Heartbeat(job.id)
    heartbeat.start()
    try:
        if job.created_ids:  # an earlier attempt died half-way
            undo(job)
        if job.source == ImportSource.ARCHIVE:
            _import_archive(job, reporter)
        else:
            _import_clone(job, reporter)
    except (ImportRefused, git.GitError, FileTreeError, ImportRequestError) as exc:
        fail(job, str(exc))
        return "failed"
    except Exception:
        logger.exception("import %s failed", job.id)
        fail(job, "The import failed unexpectedly (the server log has the details); nothing of it was kept.")
        return "failed"
    finally:
        heartbeat.stop()
        _remove_upload(job)
    return "succeeded"


def _remove_upload(job: ImportJob) -> None:
    if job.upload:
        (uploads_dir() / job.upload).unlink(missing_ok=True)


def _import_archive(job: ImportJob, reporter: Reporter) -> None:
    limits = Limits.from_settings()
    path = uploads_dir() / job.upload
    if not job.upload or not path.exists():
        raise ImportRefused("The uploaded archive is no longer on the server; upload it again.")
    reporter.stage("reading the archive", 0.0, 0.1)
    source = open_archive(path, limits)
    try:
        summary = _import_entries(job, source, limits, reporter, use_gitignore=True)
    finally:
        source.close()
    finish(job, ImportStatus.SUCCEEDED, summary=summary)


def _import_clone(job: ImportJob, reporter: Reporter) -> None:
    limits = Limits.from_settings()
    remote = git.parse_remote(job.name)  # checked again: the operator's roots may have changed meanwhile
    if Repository.objects.filter(workspace_id=job.workspace_id).exists():
        raise ImportRefused(REPOSITORY_EXISTS)
    tmp = Path(settings.REPOS_DATA_DIR) / "tmp" / f"clone-{job.id}-{job.attempts}.git"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        known_hosts = known_hosts_path(job.workspace_id)
        with git.session(remote.protocol, deploy_key=job.deploy_key, known_hosts=known_hosts) as session:
            reporter.stage("cloning", 0.0, 0.5)
            cloned = git.clone(
                session, remote, tmp, ref=job.ref, shallow=job.shallow, limits=limits, on_tick=reporter.cloning
            )
            reporter.stage("reading the repository", 0.5, 0.55)
            tree = git.GitTree(session, tmp, cloned.head, limits)
            summary = _import_entries(job, tree, limits, reporter, use_gitignore=False)
        summary["repository"] = {"remote_url": remote.display, "branch": cloned.branch, "head_commit": cloned.head}
        final = repository_path(job.workspace_id)
        with transaction.atomic():
            # Concurrent clones into one workspace: one keeps its repository, the others fail (and undo).
            Workspace.objects.select_for_update().filter(id=job.workspace_id).values_list("id", flat=True).first()
            if Repository.objects.filter(workspace_id=job.workspace_id).exists():
                raise ImportRefused(REPOSITORY_EXISTS)
            if final.exists():  # left by a repository whose row is gone
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(tmp, final)
            Repository.objects.create(
                workspace_id=job.workspace_id,
                remote_url=remote.display,
                branch=cloned.branch,
                head_commit=cloned.head,
                root=job.into,
                synced_at=timezone.now(),
                shallow=job.shallow,
                deploy_key=job.deploy_key,
                created_by_id=job.user_id,
            )
            finish(job, ImportStatus.SUCCEEDED, summary=summary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _import_entries(job: ImportJob, source, limits: Limits, reporter: Reporter, *, use_gitignore: bool) -> dict:
    entries = source.list(read_now=(IGNORE_FILE,) if use_gitignore else ())
    plan = make_plan(
        entries, limits=limits, existing=existing_paths(job.workspace_id), into=job.into, use_gitignore=use_gitignore
    )
    declared = sum(item.entry.size for item in plan.files)
    if declared > limits.total_bytes:
        raise ImportRefused(
            f"The files to import hold {declared} bytes; the limit is {limits.total_bytes} (REPOS_MAX_TOTAL_BYTES)."
        )
    job.files_total = plan.file_count
    ImportJob.objects.filter(id=job.id).update(files_total=job.files_total)
    reporter.stage("importing files", reporter.span[1], 1.0)
    writer = BatchWriter(job, reporter)
    by_entry = {id(item.entry): item for item in plan.files}
    for entry, data in source.read([item.entry for item in plan.files]):
        writer.add(by_entry[id(entry)].paths, data)
    writer.flush(plan.folders)
    return writer.summary(plan)


class BatchWriter:
    """Files to create, written a batch (one transaction) at a time."""

    def __init__(self, job: ImportJob, reporter: Reporter) -> None:
        self.job = job
        self.reporter = reporter
        self.items: list[tuple[str, bytes]] = []
        self.size = 0
        self.counts: Counter[str] = Counter()
        self.skipped: list[dict] = []

    def add(self, paths: Iterable[str], data: bytes) -> None:
        for path in paths:
            self.items.append((path, data))
            self.size += len(data)
        if len(self.items) >= BATCH_FILES or self.size >= BATCH_BYTES:
            self.flush()

    def flush(self, folders: Iterable[str] = ()) -> None:
        items, folders = self.items, list(folders)
        self.items, self.size = [], 0
        if not items and not folders:
            return
        classified = [(path, data, *classify(data, settings.COLLAB_MAX_DOC_BYTES)) for path, data in items]
        try:
            self._write(classified, folders)
        except (IntegrityError, FileTreeError):
            # Someone created one of these paths meanwhile: theirs stays, ours is skipped.
            existing = existing_paths(self.job.workspace_id)
            kept = []
            for item in classified:
                clash = clash_with(item[0], existing)
                if clash:
                    self.skipped.append({"path": item[0], "reason": clash})
                else:
                    kept.append(item)
            self._write(kept, [f for f in folders if not clash_with(f, existing, is_folder=True)])

    def _write(self, items: list[tuple[str, bytes, str, str | None]], folders: list[str]) -> None:
        news = [NewFile(path, kind, None if kind == FileKind.TEXT else len(data)) for path, data, kind, _ in items]
        job = self.job
        with transaction.atomic():
            created_folders, created = create_files_bulk(job.workspace_id, news, folders)
            texts, blobs = [], []
            for node, (_, data, kind, text) in zip(created, items, strict=True):
                if kind == FileKind.TEXT:
                    if text:
                        texts.append((node.id, text))
                else:
                    blobs.append(new_blob(node, data))
            _initial_texts(texts)
            Blob.objects.bulk_create(blobs)
            job.created_ids = [*job.created_ids, *(n.id for n in created_folders), *(n.id for n in created)]
            job.files_done += len(created)
            job.bytes_done += sum(len(item[1]) for item in items)
            job.progress = self.reporter.within(job.files_done / max(job.files_total, 1))
            ImportJob.objects.filter(id=job.id).update(
                created_ids=job.created_ids, files_done=job.files_done, bytes_done=job.bytes_done, progress=job.progress
            )
        self.counts.update(kind for _, _, kind, _ in items)
        self.counts["folders"] += len(created_folders)
        self.reporter.tell()

    def summary(self, plan: Plan) -> dict:
        skipped = plan.skipped + self.skipped
        return {
            "imported": self.counts[FileKind.TEXT] + self.counts[FileKind.BINARY] + self.counts[FileKind.READONLY],
            "text": self.counts[FileKind.TEXT],
            "binary": self.counts[FileKind.BINARY],
            "readonly": self.counts[FileKind.READONLY],
            "folders": self.counts["folders"],
            "skipped": skipped[:MAX_SKIPPED_SHOWN],
            "skipped_count": len(skipped),
            "refused_count": sum(1 for item in skipped if item["reason"].startswith("refused")),
        }


def _initial_texts(items: list[tuple[int, str]]) -> None:
    """The one place an import gives new files their text, each as the first update of its document in the
    collab store (a new file has no state to read first, unlike `store.replace_text`), stored batch by batch."""
    updates = []
    for file_id, text in items:
        doc = new_doc()
        doc_text(doc).insert(0, text)
        updates.append((file_id, doc.get_update()))
    store.append_first_updates(updates)


# --- the end ------------------------------------------------------------------------------------------------------


def finish(job: ImportJob, status: str, *, error: str = "", summary: dict | None = None) -> bool:
    """Move the import to its final status once (False if it had finished already); the deploy key is dropped
    from the import (a kept repository holds its own copy)."""
    fields: dict = {"status": status, "finished_at": timezone.now(), "error": error, "step": str(status)}
    fields["deploy_key"] = ""
    if status == ImportStatus.SUCCEEDED:
        fields["progress"] = 1.0
        fields["created_ids"] = []
    if summary is not None:
        fields["summary"] = summary
    changed = ImportJob.objects.filter(id=job.id).exclude(status__in=FINISHED_IMPORT_STATUSES).update(**fields)
    if not changed:
        return False
    job.refresh_from_db()
    transaction.on_commit(partial(_announce_finished, job.id))
    return True


def _announce_finished(import_id: int) -> None:
    job = ImportJob.objects.select_related("user").get(id=import_id)
    if job.status == ImportStatus.SUCCEEDED:
        notify_tree_changed(job.workspace_id)
    events.broadcast(job, "import.finished")


def fail(job: ImportJob, error: str) -> None:
    """Fail the import and remove everything it had created."""
    undo(job)
    finish(job, ImportStatus.FAILED, error=error)


def undo(job: ImportJob) -> int:
    """Delete the nodes this import created (folders only when nothing else was put in them); how many went."""
    ids = ImportJob.objects.filter(id=job.id).values_list("created_ids", flat=True).first() or []
    if not ids:
        return 0
    with transaction.atomic():
        nodes: list[tuple[int, str, bool]] = []
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            nodes += FileNode.objects.filter(workspace_id=job.workspace_id, id__in=chunk).values_list(
                "id", "path", "is_folder"
            )
        files = [node_id for node_id, _, is_folder in nodes if not is_folder]
        for start in range(0, len(files), 5000):
            FileNode.objects.filter(id__in=files[start : start + 5000]).delete()
        removed = len(files)
        for node_id, path, _ in sorted((n for n in nodes if n[2]), key=lambda n: -n[1].count("/")):
            if not nodes_below(job.workspace_id, path).exists():
                FileNode.objects.filter(id=node_id).delete()
                removed += 1
        ImportJob.objects.filter(id=job.id).update(created_ids=[])
    job.created_ids = []
    transaction.on_commit(partial(notify_tree_changed, job.workspace_id))
    return removed


def reap_stale_imports(requeue: Callable[[int], None]) -> list[tuple[int, str]]:
    """Running imports whose worker stopped writing: sent again (the claim takes them over), or failed after
    MAX_ATTEMPTS attempts. Run at each worker's start and periodically."""
    stale = timezone.now() - timedelta(seconds=settings.REPOS_IMPORT_STALE_SECONDS)
    outcomes: list[tuple[int, str]] = []
    for job in ImportJob.objects.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=stale).select_related("user"):
        if job.attempts < MAX_ATTEMPTS:
            requeue(job.id)
            outcomes.append((job.id, "requeued"))
            continue
        # Taken over with a fresh heartbeat first, so a late worker and a second reaper leave it alone.
        if ImportJob.objects.filter(id=job.id, status=ImportStatus.RUNNING, heartbeat_at__lt=stale).update(
            heartbeat_at=timezone.now()
        ):
            fail(job, f"The worker running this import stopped (killed or crashed) {job.attempts} times.")
            _remove_upload(job)
            outcomes.append((job.id, "failed"))
    return outcomes
