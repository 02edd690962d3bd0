"""The git pane, one module per view (DESIGN §4, issue 5).

`panel` (the pane: header, file list, recent commits, refresh and prefetch), `status_list` (the file list),
`header`, `recent`, `diff_screen` (one file's diff, hunk staging), `branches`, `stash`, `log` (log and one commit),
`conflicts` (the merge-conflict resolver), `dialogs` (commit message, secret input), `identity` (user.name/email).
Import from the module that owns a name; this package file imports nothing, so loading one view loads no other.
"""
