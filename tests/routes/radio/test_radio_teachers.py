"""RADIO route: tiny frozen teachers, the teacher-output cache, the kNN probe, the shapes data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from runtime.core.errors import TaskInputError
from runtime.fixtures.shapes import COLOURS, POSITIONS, SHAPES, generate, write_sets
from runtime.fixtures.teachers import build_tiny_teachers
from runtime.radio.cache import TeacherCache, hash_image_list, teacher_meta
from runtime.radio.knn import knn_accuracy, knn_predict
from runtime.radio.teachers import DEFAULT_NORMALISATION, load_teacher

RESOLUTION = {"clip": 32, "siglip": 32, "dinov2": 32, "sam": 64}
FEATURE_DIM = {"clip": 32, "siglip": 32, "dinov2": 48, "sam": 16}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_tiny_teachers(tmp_path_factory.mktemp("teachers"))


def spec(family: str, path: Path, **kw: object) -> dict[str, object]:
    return {"name": f"t-{family}", "name_or_path": str(path), "family": family,
            "resolution": RESOLUTION[family], **kw}


# ---- teachers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["clip", "siglip", "dinov2", "sam"])
def test_each_family_loads_frozen_and_returns_a_feature_grid(tiny: dict[str, Path], family: str) -> None:
    teacher = load_teacher(spec(family, tiny[family]), base_dir="/")
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert not teacher.model.training
    assert teacher.feature_dim == FEATURE_DIM[family]
    grid = RESOLUTION[family] // 8
    images = torch.rand(2, 3, 40, 40)  # not the teacher's resolution: resized inside
    summary, features = teacher(images)
    assert features.shape == (2, FEATURE_DIM[family], grid, grid) and features.dtype == torch.float32
    if family == "sam":
        assert summary is None and teacher.summary_dim is None and not teacher.has_summary
    else:
        assert summary is not None and summary.dtype == torch.float32
        assert summary.shape == (2, teacher.summary_dim) and teacher.summary_dim == FEATURE_DIM[family]
    # the 40x40 input went through a bilinear, antialiased resize to the teacher's resolution
    resized = F.interpolate(images, size=(RESOLUTION[family],) * 2, mode="bilinear", antialias=True,
                            align_corners=False)
    torch.testing.assert_close(teacher(resized)[1], features)
    mean, std = DEFAULT_NORMALISATION[family]
    torch.testing.assert_close(teacher.mean, torch.tensor(mean))
    torch.testing.assert_close(teacher.std, torch.tensor(std))


def test_clip_at_another_resolution_interpolates_but_sam_refuses(tiny: dict[str, Path]) -> None:
    clip = load_teacher(spec("clip", tiny["clip"], resolution=48), base_dir="/")
    assert clip.interpolate and clip(torch.rand(1, 3, 20, 20))[1].shape == (1, 32, 6, 6)
    dino = load_teacher(spec("dinov2", tiny["dinov2"], resolution=48), base_dir="/")
    assert dino(torch.rand(1, 3, 32, 32))[1].shape == (1, 48, 6, 6)
    with pytest.raises(TaskInputError, match="set resolution: 64"):
        load_teacher(spec("sam", tiny["sam"], resolution=32), base_dir="/")
    with pytest.raises(TaskInputError, match="multiple of the patch size"):
        load_teacher(spec("clip", tiny["clip"], resolution=36), base_dir="/")


@pytest.mark.parametrize("family", ["clip", "sam"])
def test_bf16_teachers_still_return_float32(tiny: dict[str, Path], family: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """What a GPU with bf16 gets (load_teacher picks bf16 on cuda), run here on the CPU."""
    import runtime.radio.teachers as teachers

    resolution = 48 if family == "clip" else 64  # CLIP with interpolated position embeddings
    full = load_teacher(spec(family, tiny[family], resolution=resolution), base_dir="/")
    monkeypatch.setattr(teachers, "_dtype_for", lambda device: torch.bfloat16)
    half = load_teacher(spec(family, tiny[family], resolution=resolution), base_dir="/")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    images = torch.rand(2, 3, 40, 40)
    (s16, f16), (_, f32) = half(images), full(images)
    assert f16.dtype == torch.float32 and (s16 is None) == (family == "sam")
    torch.testing.assert_close(f16, f32, atol=0.1, rtol=0.05)


def test_summary_settings(tiny: dict[str, Path]) -> None:
    clip = load_teacher(spec("clip", tiny["clip"], summary=False), base_dir="/")
    assert clip.summary_dim is None and clip(torch.rand(1, 3, 32, 32))[0] is None
    with pytest.raises(TaskInputError, match="a sam teacher has no summary"):
        load_teacher(spec("sam", tiny["sam"], has_summary=True), base_dir="/")


def test_mean_and_std_come_from_preprocessor_config(tiny: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    shutil.copytree(tiny["clip"], folder)
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config.update(image_mean=[0.1, 0.2, 0.3], image_std=[0.7, 0.8, 0.9])
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    teacher = load_teacher(spec("clip", folder), base_dir="/")
    torch.testing.assert_close(teacher.mean, torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(teacher.std, torch.tensor([0.7, 0.8, 0.9]))
    (folder / "preprocessor_config.json").unlink()
    teacher = load_teacher(spec("clip", folder), base_dir="/")
    torch.testing.assert_close(teacher.mean, torch.tensor(DEFAULT_NORMALISATION["clip"][0]))


def test_full_checkpoints_load_into_the_vision_class(tmp_path: Path) -> None:
    from transformers import CLIPConfig, CLIPModel, SamConfig, SamModel

    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 32, "patch_size": 8}
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "vocab_size": 64, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    clip = CLIPModel(CLIPConfig(vision_config=vision, text_config=text, projection_dim=16))
    clip.save_pretrained(tmp_path / "clip-full")
    teacher = load_teacher(spec("clip", tmp_path / "clip-full"), base_dir="/")
    images = torch.rand(2, 3, 32, 32)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in DEFAULT_NORMALISATION["clip"])
    with torch.no_grad():
        want = clip.vision_model(pixel_values=(images - mean) / std)
    summary, features = teacher(images)
    torch.testing.assert_close(summary, want.pooler_output)
    torch.testing.assert_close(features, want.last_hidden_state[:, 1:].transpose(1, 2).reshape(2, 32, 4, 4))

    sam = SamModel(SamConfig(vision_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                            "image_size": 64, "patch_size": 8, "output_channels": 16,
                                            "window_size": 4, "global_attn_indexes": [0]}))
    sam.save_pretrained(tmp_path / "sam-full")
    teacher = load_teacher(spec("sam", tmp_path / "sam-full"), base_dir="/")
    loaded = teacher.model.state_dict()
    for name, value in sam.vision_encoder.state_dict().items():
        torch.testing.assert_close(loaded[f"vision_encoder.{name}"], value)


def test_a_folder_that_is_not_a_model_is_a_clear_error(tiny: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskInputError, match="not a model"):
        load_teacher(spec("clip", tmp_path / "empty"), base_dir="/")
    with pytest.raises(TaskInputError, match="does not exist"):
        load_teacher(spec("clip", tmp_path / "nowhere"), base_dir="/")
    with pytest.raises(TaskInputError, match="'dinov2' model, not clip"):
        load_teacher(spec("clip", tiny["dinov2"]), base_dir="/")
    broken = tmp_path / "broken"
    shutil.copytree(tiny["clip"], broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(TaskInputError, match="does not load as CLIPVisionModel"):
        load_teacher(spec("clip", broken), base_dir="/")
    from safetensors.torch import load_file, save_file

    partial = tmp_path / "partial"  # a checkpoint lacking weights would run half random: refused
    shutil.copytree(tiny["clip"], partial)
    weights = load_file(partial / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layers.1." not in k}, partial / "model.safetensors")
    with pytest.raises(TaskInputError, match=r"lacks 16 weights of CLIPVisionModel"):
        load_teacher(spec("clip", partial), base_dir="/")


# ---- cache ------------------------------------------------------------------------------------
def outputs(n: int, seed: int) -> dict[str, tuple[torch.Tensor | None, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return {"clip": (torch.randn(n, 8, generator=g), torch.randn(n, 8, 2, 2, generator=g)),
            "sam": (None, torch.randn(n, 4, 3, 3, generator=g) * 10)}


def test_cache_round_trip(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path / "cache", ["clip", "sam"], hash_image_list(["a.png"] * 10), shard_size=4)
    assert not cache.complete()
    batches = {0: outputs(3, 0), 3: outputs(3, 1), 6: outputs(3, 2), 9: outputs(1, 3)}
    for start in (6, 0, 9, 3):  # any order
        cache.write(start, batches[start])
    assert not cache.complete()
    cache.finish()
    assert cache.complete()
    assert sorted(p.name for p in (tmp_path / "cache").glob("*.safetensors")) == [
        "shard-00000.safetensors", "shard-00001.safetensors", "shard-00002.safetensors"]
    again = TeacherCache(tmp_path / "cache", ["sam", "clip"], hash_image_list(["a.png"] * 10), shard_size=4)
    assert again.complete() and again.num_images() == 10
    indices = [9, 0, 5, 5, 3, 4]
    got = again.read(indices)
    for name in ("clip", "sam"):
        for part in (0, 1):
            want = [batches[(i // 3) * 3][name][part] for i in indices]
            if want[0] is None:
                assert got[name][part] is None
                continue
            expected = torch.stack([w[i % 3] for w, i in zip(want, indices, strict=True)])  # type: ignore[index]
            value = got[name][part]
            assert value is not None and value.dtype == torch.float32
            torch.testing.assert_close(value, expected, rtol=1e-3, atol=1e-3)
    with pytest.raises(RuntimeError, match="already complete"):
        again.write(0, outputs(1, 0))


def test_cache_refuses_augmentation_and_other_runs(tmp_path: Path) -> None:
    with pytest.raises(TaskInputError, match="augment: false or cache_teachers: false"):
        TeacherCache.refuse_with_augmentation(True)
    TeacherCache.refuse_with_augmentation(False)

    meta = {"clip": {"resolution": 224}, "sam": {"resolution": 1024}}
    cache = TeacherCache(tmp_path, ["clip", "sam"], "hash-1", meta=meta)
    cache.write(0, outputs(2, 0))
    cache.finish()
    with pytest.raises(TaskInputError, match="teachers"):
        TeacherCache(tmp_path, ["clip", "dinov2"], "hash-1").complete()
    with pytest.raises(TaskInputError, match="another image list"):
        TeacherCache(tmp_path, ["clip", "sam"], "hash-2").read([0])
    with pytest.raises(TaskInputError, match="teacher sam was"):
        TeacherCache(tmp_path, ["clip", "sam"], "hash-1", meta={**meta, "sam": {"resolution": 512}}).complete()
    assert TeacherCache(tmp_path, ["clip", "sam"], "hash-1", meta=meta).complete()


def test_teacher_meta_describes_teachers() -> None:
    class T:
        name, family, resolution, summary_dim, feature_dim = "clip", "clip", 224, 768, 768

    assert teacher_meta([T()]) == {"clip": {"family": "clip", "resolution": 224, "summary_dim": 768,
                                            "feature_dim": 768}}


def test_cache_finish_refuses_a_gap(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path, ["clip", "sam"], "h", shard_size=4)
    cache.write(0, outputs(2, 0))
    cache.write(3, outputs(2, 1))
    with pytest.raises(ValueError, match=r"lacks images \[2\]"):
        cache.finish()
    assert not TeacherCache(tmp_path, ["clip", "sam"], "h").complete()


# ---- kNN --------------------------------------------------------------------------------------
def test_knn_weighted_vote_by_hand() -> None:
    # query along x; one class-0 neighbour at cosine 0.9, two class-1 neighbours at cosine 0.8
    query = torch.tensor([[1.0, 0.0]])
    train = torch.tensor([[0.9, math.sqrt(1 - 0.81)], [0.8, 0.6], [0.8, -0.6]])
    labels = torch.tensor([0, 1, 1])
    # T = 0.07: exp(0.9/0.07) = 3.9e5 > 2 exp(0.8/0.07) = 2 * 9.3e4 = 1.9e5 -> class 0 (a majority vote says 1)
    assert math.exp(0.9 / 0.07) > 2 * math.exp(0.8 / 0.07)
    assert knn_predict(train, labels, query, num_classes=2, k=3).tolist() == [0]
    # T = 1: exp(0.9) = 2.46 < 2 exp(0.8) = 4.45 -> class 1
    assert math.exp(0.9) < 2 * math.exp(0.8)
    assert knn_predict(train, labels, query, num_classes=2, k=3, temperature=1.0).tolist() == [1]
    # k = 20 is capped at N = 3 (same result as k = 3); scaling does not matter (cosine)
    assert knn_predict(train * 5, labels, query * 0.1, num_classes=2).tolist() == [0]
    assert knn_predict(train, labels, query, num_classes=2, k=20, temperature=1.0).tolist() == [1]


def test_knn_separated_clusters() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4, 16) * 10
    train_labels = torch.arange(4).repeat(25)
    test_labels = torch.arange(4).repeat(5)
    train = centres[train_labels] + torch.randn(100, 16, generator=g)
    test = centres[test_labels] + torch.randn(20, 16, generator=g)
    assert knn_accuracy(train, train_labels, test, test_labels, num_classes=4, chunk=7) == 1.0
    with pytest.raises(ValueError, match="train_labels must lie"):
        knn_predict(train, train_labels + 4, test, num_classes=4)


def test_the_linear_probe_starts_from_the_same_weights_whatever_the_global_seed() -> None:
    from runtime.radio.encoder_eval import linear_probe

    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(60, 8, generator=g), torch.randn(20, 8, generator=g)
    labels = torch.randint(0, 3, (60,), generator=g)
    torch.manual_seed(1)
    first = linear_probe(train, labels, test, 3, steps=5)
    torch.manual_seed(2)
    state = torch.random.get_rng_state()
    assert torch.equal(linear_probe(train, labels, test, 3, steps=5), first)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's stream is left alone


# ---- shapes -----------------------------------------------------------------------------------
def test_shapes_are_deterministic_and_consistent(tmp_path: Path) -> None:
    from PIL import Image

    a = generate(tmp_path / "a", 12, seed=3)
    b = generate(tmp_path / "b", 12, seed=3)
    c = generate(tmp_path / "c", 12, seed=4)
    strip = [{k: v for k, v in r.items() if k != "image"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "image"} for r in b]
    assert [Image.open(r["image"]).tobytes() for r in a] == [Image.open(r["image"]).tobytes() for r in b]
    assert [Image.open(r["image"]).tobytes() for r in a] != [Image.open(r["image"]).tobytes() for r in c]
    for row in a:
        assert Path(row["image"]).is_absolute() and Image.open(row["image"]).size == (32, 32)
        assert row["shape"] in SHAPES and row["colour"] in COLOURS and row["position"] in POSITIONS
        assert row["label"] == SHAPES.index(row["shape"])
        assert row["caption"] == f"a {row['colour']} {row['shape']} at the {row['position']}"
        assert [q["answer"] for q in row["questions"]] == [row["shape"], row["colour"], row["position"]]
        assert [q["question"] for q in row["questions"]] == [
            "What shape is this?", "What colour is the shape?", "Where is the shape?"]
    assert {r["label"] for r in a} == {0, 1, 2}  # balanced rounds over all combinations


def test_write_sets_files(tmp_path: Path) -> None:
    out = write_sets(tmp_path / "shapes", n_train=8, n_test=4)

    def rows(path: Path) -> list[dict[str, object]]:
        return [json.loads(line) for line in path.read_text().splitlines()]

    files = {"images": out["images"] / "images.jsonl", "train": out["labelled"] / "train.jsonl",
             "test": out["labelled"] / "test.jsonl", "captions": out["captions"], "vqa": out["vqa"],
             "vqa_test": out["vqa_test"]}
    counts = {"images": 8, "train": 8, "test": 4, "captions": 8, "vqa": 24, "vqa_test": 12}
    for key, path in files.items():
        found = rows(path)
        assert len(found) == counts[key], key
        for row in found:
            assert not Path(str(row["image"])).is_absolute() and (path.parent / str(row["image"])).is_file()
    assert set(rows(files["train"])[0]) == {"image", "label"}
    assert set(rows(files["vqa"])[0]) == {"image", "question", "answer"}
    assert set(rows(files["captions"])[0]) == {"image", "caption"}
