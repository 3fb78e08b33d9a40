# GET example: answers every call with the same greeting.
def foo(event, context)
  'hello world'
end
