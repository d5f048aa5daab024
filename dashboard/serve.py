"""`python -m dashboard.serve run dashboard/app.py ...`: `streamlit run`, for an app that navigates
with `st.navigation` while its page files sit in `dashboard/pages/`.

Streamlit takes a `pages/` folder beside the main script for its older multipage mode until the
main script has called `st.navigation` once in that server. So the very first page a fresh server
shows, when a browser opens it by address (a bookmark of /monitor after `make run`), would run
that page file alone: no navigation, no workflow strip, no page settings. Saying up front what
`st.navigation` says on its first call makes every page go through app.py from the start.
"""
from __future__ import annotations

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli


def main() -> None:
    PagesManager.uses_pages_directory = False  # as st.navigation sets it (streamlit/commands/navigation.py)
    sys.argv[0] = "streamlit"
    cli.main()


if __name__ == "__main__":
    main()
