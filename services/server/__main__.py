"""`python -m services.server [options]`: the same as `sandbench serve`."""

import sys

from services.server.cli import serve_main

raise SystemExit(serve_main(sys.argv[1:]))
