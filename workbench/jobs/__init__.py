"""Job specs and the runner that starts trainer processes (no Qt, no torch)."""
