"""Writers of tiny releases in each benchmark's exact on-disk format (imported by the tests)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image


def image_bytes(color=(200, 30, 30), size=(6, 4), fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, color=(200, 30, 30), size=(6, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(color, size, "PNG" if path.suffix.lower() == ".png" else "JPEG"))
    return path


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))
    return path


def write_lines(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def write_webqa_tsv(folder: Path, images: dict[str, bytes | str]) -> None:
    """``imgs.tsv`` lines ``id<TAB>base64`` in the given order, and ``imgs.lineidx`` offsets."""
    folder.mkdir(parents=True, exist_ok=True)
    offsets, out = [], b""
    for image_id, payload in images.items():
        offsets.append(len(out))
        data = payload.encode() if isinstance(payload, str) else base64.b64encode(payload)
        out += image_id.encode() + b"\t" + data + b"\n"
    (folder / "imgs.tsv").write_bytes(out)
    (folder / "imgs.lineidx").write_text("".join(f"{o}\n" for o in offsets))


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip holding ``members`` (name -> bytes) exactly as named: flat archives stay flat."""
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    import tarfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


class HubStandIn:
    """The hub as a few local folders: ``{(repo_id, revision): folder}``; revision None = main.

    Serves ``HfApi().list_repo_tree`` (paths and sizes), ``HfApi().list_repo_files`` (paths),
    ``HfApi().list_repo_commits`` (from
    ``commits``: ``{repo_id: [(commit_id, created_at, title), ...]}``, returned newest first
    as the hub does) and ``snapshot_download`` (copying only the files ``allow_patterns``
    match), and records every call, so a test sees what would have been listed and downloaded.
    """

    def __init__(self, repos: dict, commits: dict | None = None):
        self.repos = repos
        self.commits = commits or {}
        self.listed: list[tuple] = []
        self.history_listed: list[str] = []
        self.downloaded: list[tuple] = []

    def _folder(self, repo_id, revision):
        key = (repo_id, revision if revision not in (None, "main") else None)
        if key not in self.repos:
            raise OSError(f"404 Client Error: Revision Not Found for {repo_id}@{revision}")
        return Path(self.repos[key])

    def install(self, monkeypatch) -> "HubStandIn":
        import huggingface_hub

        hub = self

        class Entry:
            def __init__(self, path, size):
                self.path, self.size = path, size

        class Commit:
            def __init__(self, commit_id, created_at, title):
                self.commit_id, self.created_at, self.title = commit_id, created_at, title
                self.authors, self.message = ["someone"], ""

        class Api:
            def list_repo_commits(self, repo_id, repo_type=None, revision=None, **kw):
                hub.history_listed.append(repo_id)
                if repo_id not in hub.commits:
                    raise OSError(f"404 Client Error: Repository Not Found for {repo_id}")
                return [Commit(*c) for c in sorted(hub.commits[repo_id], key=lambda c: c[1], reverse=True)]

            def list_repo_files(self, repo_id, repo_type=None, revision=None, **kw):
                hub.listed.append((repo_id, revision))
                folder = hub._folder(repo_id, revision)
                return [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*")) if p.is_file()]

            def list_repo_tree(self, repo_id, repo_type=None, revision=None, recursive=False):
                hub.listed.append((repo_id, revision))
                folder = hub._folder(repo_id, revision)
                return [Entry(p.relative_to(folder).as_posix(), p.stat().st_size)
                        for p in sorted(folder.rglob("*")) if p.is_file()]

        def snapshot_download(repo_id, repo_type=None, revision=None, local_dir=None, allow_patterns=None, **kw):
            import fnmatch
            import shutil

            folder = hub._folder(repo_id, revision)
            if local_dir is None:  # the hub cache: a snapshot folder per repository and revision
                import tempfile

                local_dir = Path(tempfile.mkdtemp(prefix="hub-cache-")) / repo_id.replace("/", "--") / (revision or "main")
            copied = []
            for p in sorted(folder.rglob("*")):
                rel = p.relative_to(folder).as_posix()
                if p.is_file() and (allow_patterns is None or any(fnmatch.fnmatch(rel, a) for a in allow_patterns)):
                    (Path(local_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(p, Path(local_dir) / rel)
                    copied.append(rel)
            hub.downloaded.append((repo_id, revision, tuple(copied)))
            return str(local_dir)

        monkeypatch.setattr(huggingface_hub, "HfApi", Api)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
        return self
