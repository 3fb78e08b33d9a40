# Timeout example: never returns. Deploy it with a short timeout (the proxy's
# --timeout or FUNC_TIMEOUT) to see the caller get 408 "Timeout exceeded".
def endless(event, context)
  loop { sleep 1 }
end
