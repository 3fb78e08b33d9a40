# POST example: sends back the data it received (parsed JSON when the request
# was JSON) and the four event fields the runtime filled in.
def handler(event, context):
    return {
        "data": event["data"],
        "event-id": event["event-id"],
        "event-type": event["event-type"],
        "event-time": event["event-time"],
        "event-namespace": event["event-namespace"],
    }
