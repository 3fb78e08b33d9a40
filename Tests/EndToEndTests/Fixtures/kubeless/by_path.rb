# Test function for KubelessRuntimeTests: its behaviour depends on the path.
#   /hang      writes "hanging /hang" on stderr, then never returns
#   /fail      raises "failed on purpose"
#   /context   returns the context
#   other      returns "hello world"
def route(event, context)
  case event['extensions']['request'].path_info
  when '/hang'
    $stderr.puts('hanging /hang')
    loop { sleep 1 }
  when '/fail' then raise 'failed on purpose'
  when '/context' then context
  else 'hello world'
  end
end
