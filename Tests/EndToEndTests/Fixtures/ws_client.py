#!/usr/bin/python3
"""WebSocket client: sends N text and binary messages to argv[1], checks each
echo, prints "ECHOED <n>" and exits 0 on success. argv[3], if given, is a
pause in seconds after the first message (to outlast proxy timeouts)."""
import asyncio
import sys
import websockets


async def main(url, count, pause):
    async with websockets.connect(url, open_timeout=10, close_timeout=5) as connection:
        for index in range(count):
            text = f"message {index} " + "x" * index
            await connection.send(text)
            assert await asyncio.wait_for(connection.recv(), 10) == text
            data = bytes([index % 256]) * (index * 100 + 1)
            await connection.send(data)
            assert await asyncio.wait_for(connection.recv(), 10) == data
            if index == 0 and pause:
                await asyncio.sleep(pause)
    print(f"ECHOED {count}", flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50,
                 float(sys.argv[3]) if len(sys.argv) > 3 else 0))
