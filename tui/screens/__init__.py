"""The app's screens: the sandbox list (first screen), the workspace (imported lazily), and help."""
