"""Importing archives and folders: what lands in the tree (text, blobs, read-only), what is left out and why,
every limit and attack, and the JSON API around it. The worker's job (`importer.run_import`) runs in-process."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.support.helpers import make_member, make_user
from tests.support.repos_data import FONT, IMPORTED, PNG, PROJECT, raw_zip_with_stored_name, tar_bytes, zip_bytes
from workspace.collab import store
from workspace.collab.files import create_file_with_text
from workspace.projects.models import FileKind, FileNode, Role
from workspace.projects.services import create_workspace, file_tree
from workspace.repos import importer
from workspace.repos.models import Blob, ImportJob, ImportStatus

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path, monkeypatch):
    settings.REPOS_DATA_DIR = tmp_path / "repos"
    sent: list[int] = []
    monkeypatch.setattr("tasks.repos.enqueue", sent.append)
    return sent


@pytest.fixture
def workspace(user):
    return create_workspace(user, "Import here", readme=False)


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def import_archive(user, workspace, data: bytes, name: str = "project.zip", into: str = "") -> ImportJob:
    job = importer.create_archive_import(user, workspace.id, SimpleUploadedFile(name, data), into=into)
    importer.run_import(job.id)
    return ImportJob.objects.get(id=job.id)


def tree_contents(workspace_id: int) -> dict[str, bytes | None]:
    """path -> current bytes (None for folders) of everything in the workspace."""
    result: dict[str, bytes | None] = {}
    for node in FileNode.objects.filter(workspace_id=workspace_id):
        if node.is_folder:
            result[node.path] = None
        elif node.kind == FileKind.TEXT:
            result[node.path] = store.load_text(node.id).encode()
        else:
            result[node.path] = bytes(Blob.objects.get(file=node).data)
    return result


def files_only(contents: dict[str, bytes | None]) -> dict[str, bytes]:
    return {path: data for path, data in contents.items() if data is not None}


def reasons(job: ImportJob) -> dict[str, str]:
    return {item["path"]: item["reason"] for item in job.summary["skipped"]}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("project.zip", zip_bytes(PROJECT)),
        ("project.tar.gz", tar_bytes(PROJECT)),
        ("project.tar.bz2", tar_bytes(PROJECT, compression="bz2")),
        ("project.tar.xz", tar_bytes(PROJECT, compression="xz")),
        ("folder.tar", tar_bytes(PROJECT, compression="")),  # what the browser builds from a dropped folder
    ],
)
def test_an_archive_imports_its_files_without_ignored_paths_or_git_metadata(user, workspace, name, data):
    job = import_archive(user, workspace, data, name)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    contents = tree_contents(workspace.id)
    assert files_only(contents) == IMPORTED
    assert contents["docs"] is None, "an empty folder of the archive is kept"
    assert "build" not in contents and ".git" not in contents
    why = reasons(job)
    assert why["debug.log"] == why["src/scratch.tmp"] == "ignored by .gitignore"
    assert why["build/"] == "ignored by .gitignore"
    assert why[".git/"] == "git metadata (.git/) is not imported"
    assert why["src/more/scratch.tmp"] == "ignored by .gitignore", "a nested .gitignore applies below its folder"
    summary = job.summary
    assert (summary["imported"], summary["binary"], summary["readonly"]) == (len(IMPORTED), 2, 0)
    assert job.progress == 1.0 and job.files_done == job.files_total == len(IMPORTED)


def test_binary_files_are_blobs_with_their_size_and_text_files_are_live_documents(user, workspace):
    import_archive(user, workspace, zip_bytes(PROJECT))
    tree = {entry["path"]: entry for entry in file_tree(workspace.id)}
    assert tree["assets/logo.png"]["kind"] == FileKind.BINARY and tree["assets/logo.png"]["size"] == len(PNG)
    assert tree["assets/font.ttf"]["kind"] == FileKind.BINARY and tree["assets/font.ttf"]["size"] == len(FONT)
    assert tree["src/app.py"]["kind"] == FileKind.TEXT and tree["src/app.py"]["size"] is None
    blob = Blob.objects.get(file_id=tree["assets/logo.png"]["id"])
    assert len(blob.sha256) == 64
    assert store.load_text(tree["src/pkg/util.py"]["id"]) == "def f():\n    return '\u00e9\u20ac'\n"


def test_text_over_the_document_limit_is_stored_read_only(user, workspace, settings):
    settings.COLLAB_MAX_DOC_BYTES = 1000
    big = ("x = 1\n" * 400).encode()
    job = import_archive(user, workspace, zip_bytes({"big.py": big, "small.py": b"y = 2\n"}))
    tree = {entry["path"]: entry for entry in file_tree(workspace.id)}
    assert tree["big.py"]["kind"] == FileKind.READONLY and tree["big.py"]["size"] == len(big)
    assert tree["small.py"]["kind"] == FileKind.TEXT
    assert tree_contents(workspace.id)["big.py"] == big
    assert job.summary["readonly"] == 1


def test_an_import_into_a_folder_prefixes_every_path(user, workspace):
    job = import_archive(user, workspace, zip_bytes({"a.py": b"a\n", "sub/b.py": b"b\n"}), into="vendor/lib")
    assert job.status == ImportStatus.SUCCEEDED
    assert files_only(tree_contents(workspace.id)) == {"vendor/lib/a.py": b"a\n", "vendor/lib/sub/b.py": b"b\n"}


def test_existing_paths_are_skipped_never_overwritten(user, workspace):
    create_file_with_text(workspace, "src/app.py", "mine\n")
    create_file_with_text(workspace, "lib", "a file where the archive has a folder\n")
    job = import_archive(user, workspace, zip_bytes({"src/app.py": b"theirs\n", "lib/x.py": b"x\n", "new.py": b"n\n"}))
    assert job.status == ImportStatus.SUCCEEDED
    contents = tree_contents(workspace.id)
    assert contents["src/app.py"] == b"mine\n" and contents["new.py"] == b"n\n"
    why = reasons(job)
    assert why["src/app.py"] == "already exists in the workspace (not overwritten)"
    assert why["lib/x.py"] == "'lib' is a file in the workspace"


# --- attacks and path rules ---------------------------------------------------------------------------------


def test_zip_slip_and_absolute_paths_are_refused_and_nothing_else_is_touched(user, workspace):
    archive = zip_bytes({"ok.py": b"ok\n", "../evil.py": b"evil\n", "a/../../evil2.py": b"evil\n"})
    job = import_archive(user, workspace, archive)
    assert files_only(tree_contents(workspace.id)) == {"ok.py": b"ok\n"}
    why = reasons(job)
    assert why["../evil.py"] == why["a/../../evil2.py"] == "refused: the path leads outside the tree (zip-slip)"
    assert job.summary["refused_count"] == 2
    for name in (b"/etc/evil", b"C:\\evil.txt", b"..\\evil.txt"):
        other = create_workspace(user, f"W {name!r}", readme=False)
        job = import_archive(user, other, raw_zip_with_stored_name(name, b"evil\n"))
        assert job.status == ImportStatus.SUCCEEDED and not FileNode.objects.filter(workspace=other).exists(), name
        assert job.summary["refused_count"] == 1, name


def test_symlinks_inside_the_tree_become_copies_and_symlinks_out_of_it_are_refused(user, workspace):
    links = {
        "docs/README.md": "../README.md",
        "up": "../../etc/passwd",
        "abs": "/etc/passwd",
        "to-folder": "src",
        "dangling": "nope.txt",
    }
    for data in (zip_bytes({"README.md": b"# hi\n", "src/a.py": b"a\n"}, links=links),
                 tar_bytes({"README.md": b"# hi\n", "src/a.py": b"a\n"}, links=links)):  # fmt: skip
        target = create_workspace(user, "links", readme=False)
        job = import_archive(user, target, data)
        contents = files_only(tree_contents(target.id))
        assert contents == {"README.md": b"# hi\n", "docs/README.md": b"# hi\n", "src/a.py": b"a\n"}
        why = reasons(job)
        assert why["up"] == "refused: a symbolic link pointing outside the tree (../../etc/passwd)"
        assert why["abs"] == "refused: a symbolic link pointing outside the tree (/etc/passwd)"
        assert why["to-folder"] == "a symbolic link to a folder (src) is not imported"
        assert why["dangling"] == "a link to nope.txt, which is not imported"


def test_a_tar_symlink_folder_cannot_lead_files_outside(user, workspace):
    """The classic tar attack: `evil -> /etc`, then `evil/passwd`. Nothing is written to disk, and `evil` is a
    folder of the workspace like any other."""
    data = tar_bytes({"evil/passwd": b"root::0:0\n"}, links={"evil": "/etc"})
    job = import_archive(user, workspace, data)
    assert files_only(tree_contents(workspace.id)) == {"evil/passwd": b"root::0:0\n"}
    assert reasons(job)["evil"].startswith("is also a folder")


def test_tar_hard_links_are_copies_and_those_naming_outside_paths_are_refused(user, workspace):
    data = tar_bytes({"a.txt": b"A\n"}, hardlinks={"b.txt": "a.txt", "c.txt": "../x"})
    job = import_archive(user, workspace, data, "links.tar.gz")
    assert files_only(tree_contents(workspace.id)) == {"a.txt": b"A\n", "b.txt": b"A\n"}
    assert reasons(job)["c.txt"] == "refused: the path leads outside the tree (zip-slip)"


def test_paths_are_checked_like_files_created_by_hand(user, workspace):
    long_name = "n" * 256 + ".py"
    data = zip_bytes({"ok.py": b"1\n", long_name: b"2\n", "a/./b.py": b"3\n", "dir/new\nline": b"4\n"})
    job = import_archive(user, workspace, data)
    assert files_only(tree_contents(workspace.id)) == {"ok.py": b"1\n"}
    why = reasons(job)
    assert "at most 255 bytes" in why[long_name]
    assert "without '.' or '..'" in why["a/./b.py"]
    assert why["dir/new\nline"] == "The path contains control characters."
    assert len(why) == 3


def test_a_file_that_is_also_a_folder_keeps_the_folder(user, workspace):
    archive = tar_bytes({"pkg": b"a file\n", "pkg/mod.py": b"m\n"}, compression="")
    job = import_archive(user, workspace, archive, "clash.tar")
    assert files_only(tree_contents(workspace.id)) == {"pkg/mod.py": b"m\n"}
    assert reasons(job)["pkg"] == "is also a folder in the archive (the folder is imported)"


def test_something_that_is_not_an_archive_fails_with_a_clear_error(user, workspace):
    job = import_archive(user, workspace, b"just some text, not an archive\n", "notes.zip")
    assert job.status == ImportStatus.FAILED
    assert job.error == "This is not a zip or tar archive (.zip, .tar, .tar.gz, .tar.bz2, .tar.xz)."


# --- limits -------------------------------------------------------------------------------------------------------


def test_an_archive_over_the_size_limit_is_refused_at_upload_with_413(user, workspace, settings):
    settings.REPOS_MAX_ARCHIVE_BYTES = 1000
    response = api(user).post(
        f"/api/workspaces/{workspace.id}/import", {"archive": SimpleUploadedFile("a.zip", b"PK\x03\x04" + bytes(2000))}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The archive is 2004 bytes; the limit is 1000 (REPOS_MAX_ARCHIVE_BYTES)."
    assert not ImportJob.objects.exists()


def test_too_many_files_fails_the_import_and_keeps_nothing(user, workspace, settings):
    settings.REPOS_MAX_FILES = 5
    for data in (zip_bytes({f"f{i}.txt": b"x" for i in range(6)}), tar_bytes({f"f{i}.txt": b"x" for i in range(6)})):
        job = import_archive(user, workspace, data)
        assert job.status == ImportStatus.FAILED
        assert "more than" in job.error and "(REPOS_MAX_FILES)" in job.error
        assert not FileNode.objects.filter(workspace=workspace).exists()


def test_a_zip_directory_with_more_records_than_allowed_is_refused_before_it_is_parsed(user, workspace, settings):
    settings.REPOS_MAX_FILES = 3
    data = zip_bytes({f"d{i}/": None for i in range(10)})  # folders only: each still a directory record
    job = import_archive(user, workspace, data)
    assert job.status == ImportStatus.FAILED
    assert job.error == "The archive has more than 6 entries (REPOS_MAX_FILES): refused."


def test_a_file_over_the_file_limit_is_skipped(user, workspace, settings):
    settings.REPOS_MAX_FILE_BYTES = 100
    job = import_archive(user, workspace, zip_bytes({"big.bin": bytes(range(256)) * 2, "small.py": b"s\n"}))
    assert job.status == ImportStatus.SUCCEEDED
    assert files_only(tree_contents(workspace.id)) == {"small.py": b"s\n"}
    assert reasons(job)["big.bin"] == "too large: 512 bytes; the limit is 100 (REPOS_MAX_FILE_BYTES)"


def test_more_bytes_than_the_total_limit_fails_the_import(user, workspace, settings):
    settings.REPOS_MAX_TOTAL_BYTES = 10_000
    files = {f"part{i}.bin": bytes(range(256)) * 12 for i in range(4)}  # 3 KiB each, 12 KiB in all
    for data in (zip_bytes(files), tar_bytes(files)):
        job = import_archive(user, workspace, data)
        assert job.status == ImportStatus.FAILED, job.summary
        assert "10000" in job.error and "(REPOS_MAX_TOTAL_BYTES)" in job.error
        assert not FileNode.objects.filter(workspace=workspace).exists()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_zip_bomb_is_refused_by_its_compression_ratio(user, workspace, kind):
    zeros = bytes(24 * 1024 * 1024)  # 24 MiB of zeros (under the file limit) deflate ~1000 times smaller
    data = zip_bytes({"bomb.bin": zeros}, level=9) if kind == "zip" else tar_bytes({"bomb.bin": zeros})
    assert len(data) < 200_000
    job = import_archive(user, workspace, data)
    assert job.status == ImportStatus.FAILED
    assert "times its compressed size (REPOS_MAX_COMPRESSION_RATIO): refused as a zip bomb" in job.error
    assert not FileNode.objects.filter(workspace=workspace).exists()


def test_a_zip_bomb_of_many_small_entries_is_refused_by_the_ratio_of_the_whole_archive(user, workspace):
    data = zip_bytes({f"part{i}.bin": bytes(4 * 1024 * 1024) for i in range(6)}, level=9)  # each under the grace
    job = import_archive(user, workspace, data)
    assert job.status == ImportStatus.FAILED
    assert job.error.startswith("The archive unpacks more than 100 times its compressed size")


def test_a_bomb_below_the_ratio_is_stopped_by_the_total_while_streaming(user, workspace, settings):
    """The tar stream is counted as it is unpacked: a header declaring a small total proves nothing."""
    settings.REPOS_MAX_TOTAL_BYTES = 2 * 1024 * 1024
    settings.REPOS_MAX_COMPRESSION_RATIO = 10_000
    data = tar_bytes({"a.bin": bytes(3 * 1024 * 1024)})
    job = import_archive(user, workspace, data, "bomb.tar.gz")
    assert job.status == ImportStatus.FAILED
    assert "unpacks to more than 2097152 bytes (REPOS_MAX_TOTAL_BYTES)" in job.error


def test_a_failure_half_way_removes_what_earlier_batches_wrote(user, workspace, settings, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_FILES", 2)
    settings.REPOS_MAX_TOTAL_BYTES = 20_000
    create_file_with_text(workspace, "mine.py", "stays\n")
    files = {f"f{i:02}.txt": f"{i}\n".encode() for i in range(8)}
    files["zz-last.bin"] = bytes(range(256)) * 100  # 25 KiB: past the total only at the end of the stream
    job = import_archive(user, workspace, tar_bytes(files, compression=""), "late.tar")
    assert job.status == ImportStatus.FAILED
    assert files_only(tree_contents(workspace.id)) == {"mine.py": b"stays\n"}
    assert job.created_ids == []


# --- the API --------------------------------------------------------------------------------------------------


def test_upload_through_the_api_queues_one_import_and_reports_it(user, workspace, data_dir):
    response = api(user).post(
        f"/api/workspaces/{workspace.id}/import", {"archive": SimpleUploadedFile("p.zip", zip_bytes(PROJECT))}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "queued" and body["source"] == "archive" and body["name"] == "p.zip"
    assert "upload" not in body and "created_ids" not in body
    importer.run_import(body["id"])
    status = api(user).get(f"/api/imports/{body['id']}").json()
    assert status["status"] == "succeeded" and status["summary"]["imported"] == len(IMPORTED)
    assert api(user).get(f"/api/workspaces/{workspace.id}/imports").json()[0]["id"] == body["id"]
    assert not (importer.uploads_dir() / f"import-{body['id']}").exists(), "the upload is removed afterwards"


def test_an_archive_sent_as_the_body_imports_like_a_multipart_one(user, workspace):
    response = api(user).post(
        f"/api/workspaces/{workspace.id}/import?name=p.tar.gz&into=vendor",
        tar_bytes(PROJECT),
        content_type="application/gzip",
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "p.tar.gz" and response.json()["into"] == "vendor"
    importer.run_import(response.json()["id"])
    assert files_only(tree_contents(workspace.id)) == {f"vendor/{path}": data for path, data in IMPORTED.items()}


def test_a_body_over_the_archive_limit_is_refused_while_it_is_read(user, workspace, settings):
    settings.REPOS_MAX_ARCHIVE_BYTES = 1000
    client = api(user)
    url = f"/api/workspaces/{workspace.id}/import"
    too_big = client.post(url, b"PK\x03\x04" + bytes(5000), content_type="application/zip")
    assert too_big.status_code == 413
    # A body whose Content-Length understates it is cut at the limit all the same.
    stream = io.BytesIO(b"PK\x03\x04" + bytes(5000))
    with pytest.raises(importer.ArchiveTooLarge):
        importer.create_archive_import_from_body(user, workspace.id, stream, 10, name="a.zip")
    assert not ImportJob.objects.exists() and not list(importer.uploads_dir().iterdir())


def test_running_an_import_twice_imports_once(user, workspace):
    job = import_archive(user, workspace, zip_bytes({"a.py": b"a\n"}))
    assert importer.run_import(job.id) == "not claimed"
    assert FileNode.objects.filter(workspace=workspace).count() == 1


def test_viewers_cannot_import_and_non_members_see_nothing(user, workspace):
    viewer, outsider = make_user("viewer"), make_user("outsider")
    make_member(workspace, viewer, Role.VIEWER)
    upload = {"archive": SimpleUploadedFile("a.zip", zip_bytes({"a.py": b"a\n"}))}
    assert api(viewer).post(f"/api/workspaces/{workspace.id}/import", upload).status_code == 403
    assert api(outsider).post(f"/api/workspaces/{workspace.id}/import", upload).status_code == 404
    job = importer.create_archive_import(user, workspace.id, SimpleUploadedFile("a.zip", zip_bytes({"a.py": b"a"})))
    assert api(viewer).get(f"/api/imports/{job.id}").status_code == 200
    assert api(outsider).get(f"/api/imports/{job.id}").json() == api(outsider).get("/api/imports/987654321").json()


def test_a_json_body_without_a_git_url_is_a_clear_400(user, workspace):
    response = api(user).post(f"/api/workspaces/{workspace.id}/import", "{}", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Send a multipart 'archive', or JSON with a 'git_url' (and 'ref')."


def test_a_new_empty_workspace_can_be_made_to_import_into(user):
    response = api(user).post("/api/workspaces", json.dumps({"name": "Fresh", "empty": True}), "application/json")
    assert response.status_code == 200
    assert file_tree(response.json()["id"]) == []


def test_the_import_route_is_in_the_openapi_schema_with_both_bodies():
    from workspace.api import api as ninja_api

    operation = ninja_api.get_openapi_schema()["paths"]["/api/workspaces/{workspace_id}/import"]["post"]
    content = operation["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "application/zip", "application/x-tar"} <= set(content)
    assert "git_url" in content["application/json"]["schema"]["properties"]
    assert content["multipart/form-data"]["schema"]["required"] == ["archive"]


def test_a_zip_written_by_a_browser_folder_drop_with_unicode_names_imports(user, workspace):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in {"proj/caf\u00e9.md": b"\xc3\xa9\n", "proj/" + "d/" * 60 + "deep.txt": b"deep\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    job = import_archive(user, workspace, buffer.getvalue(), "folder.tar")
    assert job.status == ImportStatus.SUCCEEDED, job.error
    contents = files_only(tree_contents(workspace.id))
    assert contents["proj/caf\u00e9.md"] == "\u00e9\n".encode()
    assert contents["proj/" + "d/" * 60 + "deep.txt"] == b"deep\n"


def test_zip_entries_whose_data_lies_about_their_size_fail_the_import(user, workspace):
    data = bytearray(zip_bytes({"a.txt": b"hello world\n" * 10}))
    # Corrupt the CRC recorded in the central directory: the data no longer matches what the archive declares.
    at = data.rfind(b"PK\x01\x02")
    data[at + 16 : at + 20] = b"\x00\x00\x00\x00"
    job = import_archive(user, workspace, bytes(data))
    assert job.status == ImportStatus.FAILED and "cannot be read" in job.error
    assert not FileNode.objects.filter(workspace=workspace).exists()


# --- dead workers -------------------------------------------------------------------------------------------------


def _died_half_way(user, workspace, attempts: int, settings) -> ImportJob:
    """An import whose worker wrote one file, then stopped writing its heartbeat."""
    from datetime import timedelta

    from django.utils import timezone

    job = importer.create_archive_import(user, workspace.id, SimpleUploadedFile("p.zip", zip_bytes({"a.py": b"a\n"})))
    half = create_file_with_text(workspace, f"half-{attempts}.py", "written by the dead worker\n")
    stale = timezone.now() - timedelta(seconds=2 * settings.REPOS_IMPORT_STALE_SECONDS)
    ImportJob.objects.filter(id=job.id).update(
        status=ImportStatus.RUNNING, attempts=attempts, heartbeat_at=stale, created_ids=[half.id]
    )
    return ImportJob.objects.get(id=job.id)


def test_an_import_whose_worker_died_is_sent_again_and_starts_over_cleanly(user, workspace, settings):
    job = _died_half_way(user, workspace, 1, settings)
    sent: list[int] = []
    assert importer.reap_stale_imports(sent.append) == [(job.id, "requeued")] and sent == [job.id]
    assert importer.run_import(job.id) == "succeeded"
    assert files_only(tree_contents(workspace.id)) == {"a.py": b"a\n"}, "the dead attempt's file is gone"
    assert ImportJob.objects.get(id=job.id).attempts == 2


def test_an_import_whose_worker_died_twice_fails_and_keeps_nothing(user, workspace, settings):
    job = _died_half_way(user, workspace, 2, settings)
    assert importer.reap_stale_imports(lambda import_id: pytest.fail("not sent again")) == [(job.id, "failed")]
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert job.error == "The worker running this import stopped (killed or crashed) 2 times."
    assert not FileNode.objects.filter(workspace=workspace).exists()
    assert not (importer.uploads_dir() / job.upload).exists()


def test_a_running_import_with_a_live_worker_is_left_alone(user, workspace):
    from django.utils import timezone

    job = importer.create_archive_import(user, workspace.id, SimpleUploadedFile("p.zip", zip_bytes({"a.py": b"a"})))
    ImportJob.objects.filter(id=job.id).update(status=ImportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    assert importer.run_import(job.id) == "not claimed"
    assert importer.reap_stale_imports(lambda import_id: pytest.fail("not sent again")) == []


@pytest.mark.parametrize("data", [zip_bytes({}), tar_bytes({}), tar_bytes({"only/": None, "folders/deep/": None})])
def test_an_archive_without_files_imports_its_folders_and_nothing_else(user, workspace, data):
    job = import_archive(user, workspace, data)
    assert job.status == ImportStatus.SUCCEEDED, job.error
    assert job.summary["imported"] == 0
    assert files_only(tree_contents(workspace.id)) == {}


def test_importing_into_a_path_that_is_a_file_is_refused_at_once(user, workspace):
    create_file_with_text(workspace, "notes.txt", "n\n")
    with pytest.raises(importer.ImportRequestError, match="is a file: import into a folder"):
        importer.create_archive_import(user, workspace.id, SimpleUploadedFile("a.zip", zip_bytes({})), into="notes.txt")
