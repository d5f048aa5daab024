"""The Streamlit dashboard: a client of the daemon. It never imports torch or `daemon`."""
