"""Entry point for `python -m assessment`."""

from .cli import main

raise SystemExit(main())
