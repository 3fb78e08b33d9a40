<?php
// GET example: answers every call with the same greeting.
function foo($event, $context)
{
    return 'hello world';
}
