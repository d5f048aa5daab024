"""What the daemon, the dashboard and scripts agree on: settings, protocol, client, formats.

Pure Python with light imports: nothing in this package imports torch.
"""
