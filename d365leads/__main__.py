"""``python -m d365leads``: run the command-line interface."""

from __future__ import annotations

from d365leads.cli import main

if __name__ == "__main__":
    main()
