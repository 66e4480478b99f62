"""Classifier heads on fixed features with scikit-learn's fit/predict_proba shape."""

from __future__ import annotations

import numpy as np

from trainers.state import TaskState


class MLPHead:
    """One-hidden-layer MLP trained full-batch with Adam (torch).

    Parameters
    ----------
    n_classes : int
        Width of the output layer; classes absent from ``y`` keep a column.
    hidden : int, default 128
    epochs : int, default 200
    lr : float, default 1e-2
    weight_decay : float, default 1e-4
    seed : int, default 0
    device : str or torch.device, default "cpu"
    state : TaskState, optional
        Receives "loss" and "train_accuracy" metrics every 10 epochs and is
        checked for a cancel every epoch.
    """

    def __init__(self, *, n_classes: int, hidden=128, epochs=200, lr=1e-2,
                 weight_decay=1e-4, seed=0, device="cpu", state: TaskState | None = None):
        self.n_classes = n_classes
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device
        self.state = state

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> "MLPHead":
        import torch
        from torch import nn

        torch.manual_seed(self.seed)
        self.classes_ = np.arange(self.n_classes)
        self.model_ = nn.Sequential(
            nn.Linear(X.shape[1], self.hidden), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(self.hidden, self.n_classes),
        ).to(self.device)
        inputs = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        targets = torch.as_tensor(y, dtype=torch.long, device=self.device)
        weight = torch.as_tensor(np.ones(len(y)) if sample_weight is None else sample_weight,
                                 dtype=torch.float32, device=self.device)
        optimizer = torch.optim.Adam(self.model_.parameters(), lr=self.lr,
                                     weight_decay=self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(reduction="none")
        self.model_.train()
        for epoch in range(self.epochs):
            if self.state:
                self.state.check()
            optimizer.zero_grad()
            logits = self.model_(inputs)
            loss = (loss_fn(logits, targets) * weight).sum() / weight.sum()
            loss.backward()
            optimizer.step()
            if self.state and epoch % 10 == 0:
                self.state.metric("loss", loss.item(), epoch)
                hits = (logits.argmax(dim=1) == targets).float().mean().item()
                self.state.metric("train_accuracy", hits, epoch)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.model_.eval()
        with torch.no_grad():
            inputs = torch.as_tensor(X, dtype=torch.float32, device=self.device)
            return torch.softmax(self.model_(inputs), dim=1).cpu().numpy().astype(np.float64)


def make_head(name: str, *, n_classes: int, epochs: int = 200, seed: int = 0,
              device="cpu", state: TaskState | None = None):
    """Return an unfitted head: "logistic" (scikit-learn) or "mlp" (torch)."""
    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    if name == "mlp":
        return MLPHead(n_classes=n_classes, epochs=epochs, seed=seed, device=device,
                       state=state)
    raise ValueError(f"head must be 'logistic' or 'mlp', got {name!r}.")
