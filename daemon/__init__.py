"""The long-lived process that owns the GPU and every loaded model.

server (sockets) -> commands (one handler per message type) -> jobs (queue, worker) -> engines.
An engine never imports the server.
"""
