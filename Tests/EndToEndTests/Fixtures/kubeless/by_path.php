<?php
// Test function for KubelessRuntimeTests: its behaviour depends on the path.
//   /hang      writes "hanging /hang" on stderr, then never returns
//   /fail      throws "failed on purpose"
//   /context   returns the context
//   other      returns "hello world"
function route($event, $context)
{
    switch ($event['extensions']['request']['path']) {
        case '/hang':
            file_put_contents('php://stderr', "hanging /hang\n");
            while (true) {
                sleep(1);
            }
        case '/fail':
            throw new RuntimeException('failed on purpose');
        case '/context':
            return $context;
        default:
            return 'hello world';
    }
}
