"""An optional on-disk cache of teacher outputs, for distillation runs without random augmentation.

Running three frozen teachers on every step costs more than the student itself; when every epoch
shows the teachers the same images, their outputs can be computed once and read back. Outputs are
stored in float16 (half the bytes; distillation targets do not need more) in sharded .safetensors
files of `shard_size` images each, next to an index.json that names the teachers (and their dims
and any description the caller passes, e.g. resolutions) and the hash of the image list. A cache
written for other teachers or other images is refused, never silently reused; and a cache cannot
be used with random augmentation, since the features of a flipped (or cropped) image are not the
flipped features of the original.

    cache = TeacherCache(run_dir / "teacher-cache", ["clip", "dinov2"], hash_image_list(paths))
    if not cache.complete():
        for start, images in batches_in_order:          # any order; each index once
            cache.write(start, {t.name: t(images) for t in teachers})
        cache.finish()
    targets = cache.read(batch_indices)                # {name: (summary or None, features)}, float32
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from runtime.core.errors import TaskInputError
from runtime.core.io import atomic_write_text

INDEX = "index.json"
FORMAT = "labspec-teacher-cache"
VERSION = 1
FP16_MAX = float(torch.finfo(torch.float16).max)

Outputs = dict[str, tuple[Tensor | None, Tensor]]


def hash_image_list(paths: Iterable[str]) -> str:
    """sha256 of the ordered image list (the names, not the pixels: cheap on millions of files)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def teacher_meta(teachers: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """What a cache must match besides the names: each teacher's family, resolution and dims
    (read from runtime.radio.teachers.Teacher objects, or anything with those attributes)."""
    return {t.name: {"family": t.family, "resolution": int(t.resolution), "summary_dim": t.summary_dim,
                     "feature_dim": int(t.feature_dim),
                     **({"out_features": list(t.out_features)} if getattr(t, "out_features", ()) else {})}
            for t in teachers}


class TeacherCache:
    """Teacher outputs for images 0..N-1 of one image list, in float16 shards."""

    def __init__(self, root: Path, teachers: list[str], images_hash: str, *, shard_size: int = 1024,
                 meta: dict[str, dict[str, Any]] | None = None) -> None:
        if not teachers or len(set(teachers)) != len(teachers):
            raise ValueError(f"teacher names must be distinct and not empty, got {teachers}")
        if shard_size <= 0:
            raise ValueError(f"shard_size must be positive, got {shard_size}")
        self.root = Path(root)
        self.teachers = list(teachers)
        self.images_hash = images_hash
        self.shard_size = shard_size
        self.meta = meta or {}
        self._pending: dict[int, dict[str, tuple[Tensor | None, Tensor]]] = {}
        self._shapes: dict[str, tuple[int | None, list[int]]] = {}
        self._shards: dict[int, dict[str, Any]] = {}
        self._seen: set[int] = set()
        self._writing = False
        self._index: dict[str, Any] | None = None

    # ---- checks -----------------------------------------------------------------------------
    @staticmethod
    def refuse_with_augmentation(augment: bool) -> None:
        """Cached outputs are those of the un-augmented images: wrong under random augmentation."""
        if augment:
            raise TaskInputError(
                "radio.distill.cache_teachers: cached teacher outputs are wrong under random augmentation (the "
                "features of a flipped image are not the flipped features, and a crop's are not a crop of the "
                "features): set radio.distill.augment: false or cache_teachers: false")

    def _read_index(self) -> dict[str, Any] | None:
        path = self.root / INDEX
        if not path.exists():
            return None
        try:
            index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskInputError(f"{path}: the teacher cache index does not read ({exc}); delete {self.root}") from None
        return index

    def _check(self, index: dict[str, Any]) -> None:
        """Refuse an index written for other teachers or images."""
        path = self.root / INDEX
        problems = []
        if index.get("format") != FORMAT or index.get("version") != VERSION:
            problems.append(f"format {index.get('format')!r} v{index.get('version')}, not {FORMAT!r} v{VERSION}")
        names = [t.get("name") for t in index.get("teachers", [])]
        if sorted(map(str, names)) != sorted(self.teachers):
            problems.append(f"teachers {names}, this run has {self.teachers}")
        if index.get("images_hash") != self.images_hash:
            problems.append("another image list (its hash differs)")
        if self.meta:
            cached = {t.get("name"): t.get("meta") for t in index.get("teachers", [])}
            for name, meta in self.meta.items():
                if name in cached and cached[name] != meta:
                    problems.append(f"teacher {name} was {cached[name]}, now {meta}")
        if problems:
            raise TaskInputError(f"{path}: this teacher cache does not belong to this run ({'; '.join(problems)}); "
                                 f"delete {self.root} or point the cache elsewhere")

    def _matching_index(self) -> dict[str, Any] | None:
        if self._index is None:
            index = self._read_index()
            if index is None:
                return None
            self._check(index)
            self._index = index
        return self._index

    def complete(self) -> bool:
        """True when a finished cache for these teachers and images is on disk (TaskInputError when
        the one there is for other teachers or images)."""
        index = self._matching_index()
        return bool(index and index.get("complete"))

    # ---- writing ----------------------------------------------------------------------------
    def _start_writing(self) -> None:
        index = self._matching_index()
        if index is not None and index.get("complete"):
            raise RuntimeError(f"{self.root}: the teacher cache is already complete; read it instead")
        self.root.mkdir(parents=True, exist_ok=True)
        self._index = None
        self._writing = True
        self._write_index(complete=False)  # an interrupted fill leaves an incomplete (ignored) cache

    def write(self, start: int, outputs: dict[str, tuple[Tensor | None, Tensor]]) -> None:
        """The teachers' outputs for images start..start+B-1 (summary [B, D] or None, features [B, C, h, w]).
        Batches may come in any order, each image once; a shard is written when all its images are in."""
        if not self._writing:
            self._start_writing()
        if sorted(outputs) != sorted(self.teachers):
            raise ValueError(f"outputs for teachers {sorted(outputs)}, the cache holds {sorted(self.teachers)}")
        sizes = {int(features.shape[0]) for _, features in outputs.values()}
        sizes |= {int(summary.shape[0]) for summary, _ in outputs.values() if summary is not None}
        if len(sizes) != 1:
            raise ValueError(f"teacher outputs disagree on the batch size: {sorted(sizes)}")
        batch = sizes.pop()
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        again = self._seen.intersection(range(start, start + batch))
        if again:
            raise ValueError(f"images {sorted(again)[:5]} were already written to the cache")
        halves: dict[str, tuple[Tensor | None, Tensor]] = {}
        for name, (summary, features) in outputs.items():
            shape = (None if summary is None else int(summary.shape[1]), [int(s) for s in features.shape[1:]])
            if self._shapes.setdefault(name, shape) != shape:
                raise ValueError(f"teacher {name}: outputs (summary dim, feature shape) {shape}, earlier "
                                 f"{self._shapes[name]}")
            halves[name] = (None if summary is None else self._half(name, summary),
                            self._half(name, features))
        for i in range(batch):
            self._pending[start + i] = {name: (None if s is None else s[i], f[i]) for name, (s, f) in halves.items()}
        self._seen.update(range(start, start + batch))
        for shard in sorted({(start + i) // self.shard_size for i in range(batch)}):
            first = shard * self.shard_size
            if all(first + j in self._pending for j in range(self.shard_size)):
                self._flush(shard, self.shard_size)

    @staticmethod
    def _half(name: str, values: Tensor) -> Tensor:
        values = values.detach().float().cpu()
        if not torch.isfinite(values).all() or values.abs().max().item() > FP16_MAX:
            raise ValueError(f"teacher {name}: outputs beyond float16's range (or not finite) cannot be cached; "
                             "set radio.distill.cache_teachers: false")
        return values.to(torch.float16)

    def _flush(self, shard: int, count: int) -> None:
        from safetensors.torch import save_file

        first = shard * self.shard_size
        rows = [self._pending.pop(first + j) for j in range(count)]
        tensors: dict[str, Tensor] = {}
        for name in self.teachers:
            if rows[0][name][0] is not None:
                tensors[f"{name}/summary"] = torch.stack([row[name][0] for row in rows])  # type: ignore[misc]
            tensors[f"{name}/features"] = torch.stack([row[name][1] for row in rows]).contiguous()
        file = f"shard-{shard:05d}.safetensors"
        tmp = self.root / f".{file}.tmp"
        try:
            save_file(tensors, tmp, metadata={"start": str(first), "count": str(count)})
            os.replace(tmp, self.root / file)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half shard behind
            raise
        self._shards[shard] = {"file": file, "start": first, "count": count}

    def finish(self) -> None:
        """Write the last (partial) shard and mark the cache complete; every image 0..N-1 must be in."""
        if not self._writing:
            raise RuntimeError("nothing was written to the teacher cache")
        total = max(self._seen) + 1 if self._seen else 0
        missing = sorted(set(range(total)) - self._seen)
        if missing:
            raise ValueError(f"the teacher cache lacks images {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                             f"of 0..{total - 1}")
        if self._pending:
            last = (total - 1) // self.shard_size
            self._flush(last, total - last * self.shard_size)
        assert not self._pending, "shards in the middle were left unwritten"
        self._write_index(complete=True, num_images=total)
        self._writing = False
        self._index = None

    def _write_index(self, complete: bool, num_images: int = 0) -> None:
        teachers = []
        for name in self.teachers:
            summary_dim, feature_shape = self._shapes.get(name, (None, []))
            teachers.append({"name": name, "summary_dim": summary_dim, "feature_shape": feature_shape,
                             "meta": self.meta.get(name)})
        index = {"format": FORMAT, "version": VERSION, "complete": complete, "images_hash": self.images_hash,
                 "num_images": num_images, "shard_size": self.shard_size, "dtype": "float16",
                 "teachers": teachers, "shards": [self._shards[k] for k in sorted(self._shards)]}
        atomic_write_text(self.root / INDEX, json.dumps(index, indent=1) + "\n")

    # ---- reading ----------------------------------------------------------------------------
    def num_images(self) -> int:
        """Images in the finished cache (0 when it is not complete)."""
        index = self._matching_index()
        return int(index["num_images"]) if index and index.get("complete") else 0

    def read(self, indices: list[int]) -> dict[str, tuple[Tensor | None, Tensor]]:
        """Outputs of images `indices` (in that order), as float32 tensors."""
        from safetensors import safe_open

        index = self._matching_index()
        if not index or not index.get("complete"):
            raise RuntimeError(f"{self.root}: the teacher cache is not complete; fill it (write, finish) first")
        total = int(index["num_images"])
        bad = [i for i in indices if not 0 <= i < total]
        if bad:
            raise IndexError(f"images {bad[:5]} are outside the cache's 0..{total - 1}")
        size = int(index["shard_size"])
        shards = {int(s["start"]) // size: s for s in index["shards"]}
        out: dict[str, tuple[Tensor | None, Tensor]] = {}
        for t in index["teachers"]:
            summary = None if t["summary_dim"] is None else torch.empty(len(indices), t["summary_dim"])
            out[t["name"]] = (summary, torch.empty(len(indices), *t["feature_shape"]))
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for pos, i in enumerate(indices):
            by_shard.setdefault(i // size, []).append((i - (i // size) * size, pos))
        for shard, wanted in by_shard.items():
            wanted.sort()
            runs: list[list[tuple[int, int]]] = []
            for row, pos in wanted:
                if runs and row - runs[-1][-1][0] <= 1:
                    runs[-1].append((row, pos))
                else:
                    runs.append([(row, pos)])
            with safe_open(str(self.root / shards[shard]["file"]), framework="pt") as fh:
                for name, (summary, features) in out.items():
                    for target, key in ((summary, f"{name}/summary"), (features, f"{name}/features")):
                        if target is None:
                            continue
                        sl = fh.get_slice(key)
                        for run in runs:
                            first, last = run[0][0], run[-1][0]
                            block = sl[first:last + 1]
                            for row, pos in run:
                                target[pos] = block[row - first].float()
        return out
