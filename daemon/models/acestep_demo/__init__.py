"""The demo ACE-Step 1.5 model's source: these two files are copied next to the demo weights."""
