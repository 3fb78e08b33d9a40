# GET example: returns a fixed text.
def foo(event, context):
    return "hello world"
