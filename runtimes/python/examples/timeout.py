# Timeout example: never finishes (the proxy answers 408 after FUNC_TIMEOUT).
import time


def endless(event, context):
    while True:
        time.sleep(1)
