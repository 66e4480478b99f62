"""PySide6 widgets and item models (imports Qt, never torch)."""
