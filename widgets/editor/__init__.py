"""The editor pane: `EditorTabs` (tabs of open files) over `CodeEditor` (a fast, Pygments-highlighted TextArea)."""

from widgets.editor.tabs import EditorTabs
from widgets.editor.text_area import CodeEditor

__all__ = ["CodeEditor", "EditorTabs"]
