"""Task `distill`: AM-RADIO-style distillation of several frozen vision teachers into one
student ViT (one summary token per teacher with a summary, plus registers).

Per teacher, an adaptor head maps the student's summary and patch features to the teacher's
width; the loss is cosine distance on summaries and 0.9 x cosine + 0.1 x smooth-L1 per token
on features (student grid resized to the teacher's), weighted per teacher and summed. With
`phi_s` the teachers' features are standardised first (PHI-S, fitted on a calibration pass)
so no teacher dominates by scale; summaries need no such step (cosine is scale-free).
Teachers run online on the same (augmented) batch, or come from an fp16 cache on disk when
augmentation is off. The HF Trainer runs the loop (DeepSpeed ZeRO 0-2, checkpoints, resume,
requeue); per-teacher losses are logged to TensorBoard next to the total.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from runtime.core import data, environment, training
from runtime.core.errors import TaskInputError
from runtime.core.models import resolve_model
from runtime.core.preemption import EXIT_REQUEUE
from specs.tasks import RunConfig
from specs.tasks.radio import DistillTask


def shapes_of(teachers: list[Any]) -> list[Any]:
    from runtime.radio.adaptors import TeacherShape

    return [TeacherShape(t.name, t.summary_dim if t.has_summary else None, t.feature_dim) for t in teachers]


def distill_module(student: Any, adaptors: Any, teachers: list[Any], phis: dict[str, Any],
                   weights: dict[str, tuple[float, float]], cache: Any = None) -> Any:
    """An nn.Module whose forward returns the distillation loss: the student and adaptors are
    its parameters; teachers, PHI-S and the cache are not (frozen, never saved with it)."""
    import torch
    from torch import nn

    from runtime.radio.losses import distillation_loss

    class Distill(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.student, self.adaptors = student, adaptors
            self.running: dict[str, list[float]] = defaultdict(list)

        def targets(self, pixel_values: Any, indices: Any) -> dict[str, tuple[Any, Any]]:
            if cache is not None:
                out = cache.read(indices.tolist())
                out = {k: (None if s is None else s.to(pixel_values.device), f.to(pixel_values.device))
                       for k, (s, f) in out.items()}
            else:
                with torch.no_grad():
                    out = {t.name: t(pixel_values) for t in teachers}
            for name, p in phis.items():
                s, f = out[name]
                out[name] = (s, p.apply_channels_first(f))
            return {t.name: (out[t.name][0] if t.has_summary else None, out[t.name][1]) for t in teachers}

        def forward(self, pixel_values: Any, indices: Any) -> dict[str, Any]:
            for t in teachers:
                if t.mean.device != pixel_values.device:
                    t.model.to(pixel_values.device)
                    t.mean, t.std = t.mean.to(pixel_values.device), t.std.to(pixel_values.device)
            summaries, features = self.student(pixel_values)
            total, per = distillation_loss(self.adaptors(summaries, features), self.targets(pixel_values, indices),
                                           weights)
            for name, loss in per.items():
                self.running[f"loss/{name}/features"].append(float(loss.features))
                if loss.summary is not None:
                    self.running[f"loss/{name}/summary"].append(float(loss.summary))
            return {"loss": total}

        def pop_running(self) -> dict[str, float]:
            means = {k: sum(v) / len(v) for k, v in self.running.items() if v}
            self.running.clear()
            return means

    return Distill()


def calibrate(teachers: list[Any], rows: list[dict[str, Any]], size: int, batches: int, batch: int,
              max_vectors: int = 200_000) -> dict[str, Any]:
    """PHI-S per teacher, fitted on the features of the first batches (no augmentation): the
    same images on every rank, so every rank fits the same transform."""
    import torch

    from runtime.radio.images import load
    from runtime.radio.phis import PhiS

    feats: dict[str, list[Any]] = defaultdict(list)
    for b in range(batches):
        chunk = rows[b * batch:(b + 1) * batch]
        if not chunk:
            break
        images = load([r["image"] for r in chunk], size)
        with torch.no_grad():
            for t in teachers:
                f = t(images)[1]
                feats[t.name].append(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).double())
    out = {}
    for t in teachers:
        vectors = torch.cat(feats[t.name])[:max_vectors]
        if vectors.shape[0] < 2:
            raise TaskInputError("radio.distill.calibration_batches: too few images to fit PHI-S")
        out[t.name] = PhiS.fit(vectors)
    return out


def build_cache(root: Path, teachers: list[Any], rows: list[dict[str, Any]], size: int, batch: int) -> Any:
    """Teacher outputs for every image, computed once on rank 0 (the others wait)."""
    import torch.distributed as dist

    from runtime.radio.cache import TeacherCache, teacher_meta
    from runtime.radio.images import load

    digest = hashlib.sha256("\n".join(r["image"] for r in rows).encode()).hexdigest()[:16]
    cache = TeacherCache(root, [t.name for t in teachers], digest, meta=teacher_meta(teachers))
    rank0 = not dist.is_initialized() or dist.get_rank() == 0
    if rank0 and not cache.complete():
        for start in range(0, len(rows), batch):
            images = load([r["image"] for r in rows[start:start + batch]], size)
            cache.write(start, {t.name: t(images) for t in teachers})
        cache.finish()
    if dist.is_initialized():
        dist.barrier()
    return cache


class Collator:
    def __init__(self, size: int, augment: bool, seed: int) -> None:
        self.size, self.augment, self.rng = size, augment, random.Random(seed)

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from runtime.radio.images import load

        return {"pixel_values": load([r["image"] for r in batch], self.size, self.augment, self.rng),
                "indices": torch.tensor([r["index"] for r in batch])}


def run(run: RunConfig, tc: DistillTask) -> int:
    environment.prepare_training(run)
    import torch.distributed as dist
    from transformers import Trainer, TrainingArguments

    from runtime.radio import bundle
    from runtime.radio.adaptors import Adaptors
    from runtime.radio.images import image_rows
    from runtime.radio.student import Student, StudentConfig
    from runtime.radio.teachers import load_teacher

    base = run.base_dir
    settings = tc.distill
    if training.zero_stage(run) > 2:
        raise TaskInputError("distill runs with ZeRO 0-2: set stages.distill.deepspeed.zero_stage to 2 or less")
    rows = [{"image": r["image"], "index": i}
            for i, r in enumerate(image_rows(str(data.resolve(settings.data, base)), "radio.distill.data"))]
    teachers = [load_teacher(t, base, environment.device()) for t in tc.teachers]
    st = tc.student
    if st.init:
        student = Student.load(Path(resolve_model(st.init, base, "radio.student.init")))
    else:
        student = Student(StudentConfig(width=st.width, depth=st.depth, heads=st.heads, patch_size=st.patch_size,
                                        resolution=st.resolution, registers=st.registers,
                                        summary_names=[t.name for t in teachers if t.has_summary]))
    shapes = shapes_of(teachers)
    adaptors = Adaptors(student.config.width, shapes)
    size = max([student.config.resolution, *(t.resolution for t in teachers)])
    assert run.training is not None
    micro = run.training.micro_batch_size
    phis = calibrate(teachers, rows, size, settings.calibration_batches, micro) if settings.phi_s else {}
    cache = None
    if settings.cache_teachers:
        from runtime.radio.cache import TeacherCache

        TeacherCache.refuse_with_augmentation(settings.augment)
        cache = build_cache(Path(run.run_dir) / "teacher_cache", teachers, rows, size, micro)
    weights = {t.name: (t.summary_weight, t.feature_weight) for t in tc.teachers}
    model = distill_module(student, adaptors, teachers, phis, weights, cache)

    class DistillTrainer(Trainer):  # type: ignore[misc]
        def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
            if "loss" in logs:  # training logs: add the per-teacher losses of the same window
                logs.update(self.accelerator.unwrap_model(self.model).pop_running())
            super().log(logs, *args, **kwargs)

    args = TrainingArguments(**training.arguments(run, {"remove_unused_columns": False}))
    stop = training.preemption_callback(run)
    rank = dist.get_rank() if dist.is_initialized() else 0
    trainer = DistillTrainer(model=model, args=args, train_dataset=rows,  # type: ignore[arg-type]
                             data_collator=Collator(size, settings.augment, run.seed + rank),
                             callbacks=[stop])
    trained = training.train(trainer, stop, "distill")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    try:
        if trainer.is_world_process_zero():
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            bundle.save(Path(run.outputs["model"]), unwrapped.student, unwrapped.adaptors, shapes, phis)
            losses = {k: v for entry in trainer.state.log_history for k, v in entry.items() if k.startswith("loss/")}
            training.record(trainer, run, training.summary_of(result, resume, teachers=len(teachers),
                                                              images=len(rows), **losses))
    finally:
        training.leave()
    return 0
