"""The quick check for open_clip weights, made before torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trainers.features.backbones import require_clip_weights
from trainers.features.spaces import parse_space

CHECK = """
import sys
from trainers.features.backbones import require_clip_weights
from trainers.features.spaces import parse_space
try:
    require_clip_weights(parse_space("clip", options={"download": False}))
except ValueError as exc:
    print(exc)
print("torch imported:", "torch" in sys.modules)
"""


def _clip(**options):
    return parse_space("clip", weights=options.pop("weights", None), options=options)


def test_missing_weights_fail_without_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    output = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                            check=True).stdout
    assert "--weights PATH" in output
    assert "ViT-B-32/laion2b_s34b_b79k" in output
    assert "torch imported: False" in output


def test_cached_checkpoint_passes(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    (hub / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K").mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert require_clip_weights(_clip(download=False)) is None


def test_empty_cache_fails(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    (hub / "models--timm--resnet50.a1_in1k").mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match="--download true"):
        require_clip_weights(_clip(download=False))


def test_download_skips_check(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert require_clip_weights(_clip(download=True)) is None


def test_weights_file_removed_later(tmp_path):
    checkpoint = tmp_path / "clip.pt"
    checkpoint.write_bytes(b"weights")
    space = _clip(weights=str(checkpoint), download=False)
    assert require_clip_weights(space) is None
    checkpoint.unlink()
    with pytest.raises(ValueError, match="clip.pt not found"):
        require_clip_weights(space)
