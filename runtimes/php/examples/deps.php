<?php
// Deps example: uses an extension installed in the image at build time
// (Debian's php-bcmath; DEPS in the Dockerfile): exact big-number arithmetic.
function handler($event, $context)
{
    return 'deps: bcmath ' . bcadd('12345678901234567890', '1', 0);
}
