"""Fixtures: the real daemon (started on port 0 for the session, or STATEHOUSE_TEST_URL) and clients."""

# daemon_url, client, aclient: the Python SDK's test fixtures (../python/tests is on pythonpath).
pytest_plugins = ["_fixtures"]
