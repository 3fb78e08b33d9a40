<?php
// Timeout example: never returns. Deploy it with a short timeout (the proxy's
// --timeout or FUNC_TIMEOUT) to see the caller get 408 "Timeout exceeded".
// It keeps one server worker busy until the runtime restarts.
function endless($event, $context)
{
    while (true) {
        sleep(1);
    }
}
