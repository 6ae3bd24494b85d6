"""`python -m minerals` runs the command-line interface."""

from minerals.cli import main

raise SystemExit(main())
