"""The demo: deploy locally, then run both workflows end to end (`python -m local_mode demo`)."""
