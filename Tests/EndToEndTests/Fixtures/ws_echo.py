#!/usr/bin/python3
"""WebSocket echo server (Debian's python3-websockets). Prints READY <port>."""
import asyncio
import websockets


async def echo(connection, path=None):
    async for message in connection:
        await connection.send(message)


async def main():
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        await asyncio.Future()

asyncio.run(main())
