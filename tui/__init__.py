"""The Textual application: App, screens, the `sandbench` CLI, key map and command palette."""
