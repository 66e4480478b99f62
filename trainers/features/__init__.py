"""Embedding spaces: raw pixels now; open_clip, torchvision and self-supervised next."""
