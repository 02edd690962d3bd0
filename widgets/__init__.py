"""The panes: reusable Textual widgets that receive a SandboxService and report back with messages."""
