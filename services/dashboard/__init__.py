"""The live operations dashboard and the call-in brief (issue 4): `python -m services.dashboard`."""
