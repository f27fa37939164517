"""`camerapose view`: the live 3D viewer, a local web page fed by the pose stream over a WebSocket.

bridge.py holds the pure parts (newest-wins mailbox, message -> JSON, address checks); server.py
the aiohttp server (the optional `view` extra); static/ the page and its own canvas renderer.
"""
