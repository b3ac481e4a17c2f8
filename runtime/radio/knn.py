"""RADIO's kNN probe of an encoder's summary features (as in DINO's and AM-RADIO's evaluation).

Frozen summary vectors of the labelled training images vote for the class of each test image: the
k = 20 nearest training images by cosine similarity, each weighted by exp(similarity / T) with
T = 0.07, so a very close neighbour outweighs several merely close ones. No training, no
hyper-parameter search: a cheap, stable measure of how linearly-clustered the features are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def knn_predict(train: Tensor, train_labels: Tensor, test: Tensor, num_classes: int, k: int = 20,
                temperature: float = 0.07, chunk: int = 1024) -> Tensor:
    """Predicted labels [M] of `test` [M, D], from `train` [N, D] with integer `train_labels` [N] in
    0..num_classes-1: the k nearest (cosine) training vectors vote with weight exp(sim / temperature);
    k is capped at N. Test vectors are processed `chunk` at a time (memory: chunk x N similarities)."""
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"train [N, D] and test [M, D] features expected, got {list(train.shape)} and "
                         f"{list(test.shape)}")
    if train_labels.shape != (train.shape[0],):
        raise ValueError(f"train_labels must be [N] = [{train.shape[0]}], got {list(train_labels.shape)}")
    if train.shape[0] == 0:
        raise ValueError("kNN needs at least one training vector")
    if k < 1 or temperature <= 0 or chunk < 1 or num_classes < 1:
        raise ValueError(f"need k >= 1, temperature > 0, chunk >= 1, num_classes >= 1; got k={k}, "
                         f"temperature={temperature}, chunk={chunk}, num_classes={num_classes}")
    labels = train_labels.to(device=train.device, dtype=torch.long)
    if labels.min().item() < 0 or labels.max().item() >= num_classes:
        raise ValueError(f"train_labels must lie in 0..{num_classes - 1}, got {labels.min().item()}.."
                         f"{labels.max().item()}")
    k = min(k, train.shape[0])
    bank = F.normalize(train.float(), dim=1)
    predictions = []
    for begin in range(0, test.shape[0], chunk):
        queries = F.normalize(test[begin:begin + chunk].to(bank.device).float(), dim=1)
        sims, idx = (queries @ bank.T).topk(k, dim=1)
        weights = (sims / temperature).exp()
        votes = torch.zeros(queries.shape[0], num_classes, device=bank.device)
        votes.scatter_add_(1, labels[idx], weights)
        predictions.append(votes.argmax(dim=1))
    if not predictions:
        return torch.zeros(0, dtype=torch.long, device=train.device)
    return torch.cat(predictions)


def knn_accuracy(train: Tensor, train_labels: Tensor, test: Tensor, test_labels: Tensor, num_classes: int,
                 k: int = 20, temperature: float = 0.07, chunk: int = 1024) -> float:
    """Top-1 accuracy of knn_predict on `test` against `test_labels` [M]."""
    if test_labels.shape != (test.shape[0],):
        raise ValueError(f"test_labels must be [M] = [{test.shape[0]}], got {list(test_labels.shape)}")
    if test.shape[0] == 0:
        raise ValueError("kNN accuracy needs at least one test vector")
    predicted = knn_predict(train, train_labels, test, num_classes, k, temperature, chunk)
    return float((predicted.cpu() == test_labels.cpu().long()).float().mean().item())
