"""The wire: the message schema, the ZeroMQ publisher, the Python client, record and replay.
Nothing here knows about processes or models."""
