"""The HTTP server: an ASGI app over one Node."""
