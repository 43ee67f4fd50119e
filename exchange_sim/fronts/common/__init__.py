"""What the venue fronts do the same way whatever the venue's words: serving a REST request and
journaling it, reading request parameters, and living a WebSocket connection. Each front keeps
its own routes, envelopes, error codes and wire shapes."""
