# Deps example: uses a library installed in the image at build time
# (Debian's ruby-rainbow; DEPS in the Dockerfile).
require 'rainbow'

def handler(event, context)
  "deps: rainbow #{Rainbow.uncolor(Rainbow('plain text').red)}"
end
