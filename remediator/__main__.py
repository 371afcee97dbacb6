"""Allow `python -m remediator`."""

from remediator import cli

raise SystemExit(cli.main())
