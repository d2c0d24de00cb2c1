from django.apps import AppConfig


class ReposConfig(AppConfig):
    name = "workspace.repos"
    label = "repos"
    verbose_name = "Repositories: import, export, stored files"

    def ready(self) -> None:
        from workspace.collab.contents import StoredFiles, use_stored_files
        from workspace.repos import blobs

        # Checkpoints and deleted files (collab, a lower layer) reach stored files' bytes through these.
        use_stored_files(StoredFiles(hashes=blobs.hashes, read=blobs.stored_bytes, write=blobs.replace))
