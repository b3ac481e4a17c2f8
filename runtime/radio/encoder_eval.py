"""Task `encoder_eval`: how well the distilled student stands in for its teachers.

- Fidelity, per teacher, on held-out images: cosine similarity between the student's adapted
  outputs (mapped back through the teacher's PHI-S) and the teacher's own summary and
  features (student grid resized to the teacher's). Beside it, the same similarity for a
  predictor that knows nothing of the image: the teacher's mean output over the training
  images (`fidelity/<t>/<part>_mean_baseline`); teachers whose outputs barely vary make high
  fidelity cheap, and the baseline shows how cheap.
- kNN classification (k = 20, votes weighted by exp(similarity / 0.07), as RADIO's
  evaluation) and optionally a linear probe (logistic regression) on frozen summary
  features, in one table: for the student's own summary tokens side by side (`student`, what
  a downstream model built on the student sees), for each of its adapted summary heads
  (`student:<t>`, which inherit their teacher's blind spots) and for every teacher (SAM has
  no summary: its mean-pooled features).

Labelled data: a folder with train.jsonl / test.jsonl ({"image", "label"}), or an image-folder
layout train/<class>/* and val/<class>/* (ImageNet's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.core import data, environment, results
from runtime.core.errors import TaskInputError
from runtime.core.models import resolve_model
from specs.tasks import RunConfig
from specs.tasks.radio import EncoderEvalTask

BATCH = 64


def labelled(root: Path) -> dict[str, list[dict[str, Any]]]:
    from runtime.radio.images import image_rows

    if (root / "train.jsonl").is_file() and (root / "test.jsonl").is_file():
        return {split: [{"image": r["image"], "label": int(r["label"])}
                        for r in image_rows(str(root / f"{split}.jsonl"), "radio.encoder_evaluation.data")]
                for split in ("train", "test")}
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        index = {c: i for i, c in enumerate(classes)}
        return {split: [{"image": r["image"], "label": index[Path(r["image"]).parent.name]}
                        for r in image_rows(str(root / folder), "radio.encoder_evaluation.data")
                        if Path(r["image"]).parent.name in index]
                for split, folder in (("train", "train"), ("test", "val"))}
    raise TaskInputError(f"radio.encoder_evaluation.data: {root} has neither train.jsonl + test.jsonl nor "
                         "train/<class>/ + val/<class>/ folders")


def linear_probe(train: Any, train_labels: Any, test: Any, classes: int, steps: int = 200) -> Any:
    """Multinomial logistic regression on standardised features (L-BFGS, light L2)."""
    import torch

    mean, std = train.mean(0), train.std(0) + 1e-6
    x, xt = (train - mean) / std, (test - mean) / std
    with torch.random.fork_rng():  # the same start every time: the probe's figure is the encoder's, not a draw's
        torch.manual_seed(0)
        layer = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), train_labels) + 1e-4 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return layer(xt).argmax(1)


def run(run: RunConfig, tc: EncoderEvalTask) -> int:
    import torch

    from runtime.radio import bundle
    from runtime.radio.images import load
    from runtime.radio.knn import knn_accuracy
    from runtime.radio.losses import resize_grid
    from runtime.radio.teachers import load_teacher

    base = run.base_dir
    ev = tc.evaluation
    device = environment.device()
    student, adaptors, phis, _ = bundle.load(Path(resolve_model(str(tc.encoder.path), base, "encoder")))
    student, adaptors = student.to(device), adaptors.to(device)
    teachers = [load_teacher(t, base, device) for t in tc.teachers]
    sets = labelled(Path(str(data.resolve(ev.data, base))))
    classes = ev.classes or 1 + max(r["label"] for r in sets["train"] + sets["test"])
    size = max([student.config.resolution, *(t.resolution for t in teachers)])

    summaries: dict[str, dict[str, list[Any]]] = {"train": {}, "test": {}}
    fidelity: dict[str, list[float]] = {}
    sums: dict[str, list[Any]] = {}  # per teacher: [summary sum, feature sum, count] over the training images
    cos = torch.nn.functional.cosine_similarity
    for split, rows in sets.items():
        for start in range(0, len(rows), BATCH):
            images = load([r["image"] for r in rows[start:start + BATCH]], size).to(device)
            with torch.no_grad():
                s_sum, s_feat = student(images)
                adapted = adaptors(s_sum, s_feat)
                summaries[split].setdefault("student", []).append(
                    torch.cat([s_sum[k] for k in sorted(s_sum)], dim=1).float().cpu())
                for t in teachers:
                    t_sum, t_feat = t(images)
                    t_feat = t_feat.float()
                    a_sum, a_feat = adapted[t.name]
                    if t.name in phis:  # the heads predict PHI-S space: map back to the teacher's
                        a_feat = phis[t.name].invert_channels_first(a_feat)
                    pooled = t_sum if t_sum is not None else t_feat.mean((2, 3))
                    if split == "train":
                        acc = sums.setdefault(t.name, [0.0, 0.0, 0])
                        acc[0] = acc[0] + (t_sum.sum(0) if t_sum is not None else 0.0)
                        acc[1], acc[2] = acc[1] + t_feat.sum(0), acc[2] + t_feat.shape[0]
                    summaries[split].setdefault(t.name, []).append(pooled.float().cpu())  # probes run on the CPU
                    if a_sum is not None:
                        summaries[split].setdefault(f"student:{t.name}", []).append(a_sum.float().cpu())
                    if split == "test":
                        a_feat = resize_grid(a_feat, (t_feat.shape[-2], t_feat.shape[-1]))
                        mean_sum, mean_feat, n = sums[t.name]
                        fidelity.setdefault(f"fidelity/{t.name}/features", []).append(
                            float(cos(a_feat, t_feat, dim=1).mean()))
                        fidelity.setdefault(f"fidelity/{t.name}/features_mean_baseline", []).append(
                            float(cos((mean_feat / n).expand_as(t_feat), t_feat, dim=1).mean()))
                        if a_sum is not None and t_sum is not None:
                            fidelity.setdefault(f"fidelity/{t.name}/summary", []).append(
                                float(cos(a_sum, t_sum, dim=1).mean()))
                            fidelity.setdefault(f"fidelity/{t.name}/summary_mean_baseline", []).append(
                                float(cos((mean_sum / n).expand_as(t_sum), t_sum, dim=1).mean()))
    measured: dict[str, float] = {k: sum(v) / len(v) for k, v in fidelity.items()}
    train_labels = torch.tensor([r["label"] for r in sets["train"]])
    test_labels = torch.tensor([r["label"] for r in sets["test"]])
    for encoder in summaries["train"]:
        train = torch.cat(summaries["train"][encoder]).float()
        test = torch.cat(summaries["test"][encoder]).float()
        if "knn" in ev.probes:
            measured[f"knn/{encoder}"] = knn_accuracy(train, train_labels, test, test_labels, classes)
        if "linear" in ev.probes:
            pred = linear_probe(train, train_labels, test, classes)
            measured[f"linear/{encoder}"] = float((pred == test_labels).float().mean())
    results.finish(run, {"train_images": len(sets["train"]), "test_images": len(sets["test"]), **measured},
                   primary=next(iter(measured), None), tb_prefix="eval/")
    return 0
