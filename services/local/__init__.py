"""The local provider: sandboxes on this machine under bubblewrap (see `provider.py` and `docs/isolation.md`)."""
