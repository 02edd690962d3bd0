"""`sandbench serve`: local sandboxes behind the Daytona wire protocol, so the unmodified `daytona` SDK (and the
DaytonaProvider) can drive them. `app` holds the control plane, `toolbox` files/exec/git, `pty` the terminals,
`wire` the shapes, `auth` the tokens, `cli` the command."""
