"""Headless trainer processes (torch, scikit-learn, open_clip; never Qt)."""
