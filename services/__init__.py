"""sandbench's service layer: async, UI-free. The one object the UI talks to is `SandboxService`.

Nothing under `services/` imports Textual (a test enforces it).
"""
