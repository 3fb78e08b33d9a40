<?php
// A Kubeless-style function server for PHP on PHP's built-in web server.
//
//   php kubeless.php        checks the function, then replaces itself with
//                           php -S 127.0.0.1:$RUNTIME_PORT kubeless.php
//                           (PHP_CLI_SERVER_WORKERS defaults to 4 here)
//   php -d enable_post_data_reading=0 -S 127.0.0.1:8090 kubeless.php
//                           the same by hand; set PHP_CLI_SERVER_WORKERS
//                           yourself, or calls are served one at a time
//
// Environment:
//   MOD_NAME       file to load, without ".php", from KUBELESS_DIR (required)
//   FUNC_HANDLER   function of that file to call (required)
//   KUBELESS_DIR   directory of the function (default /kubeless)
//   RUNTIME_PORT   port on 127.0.0.1 (default 8090; used by the launcher)
//   FUNC_TIMEOUT, FUNC_RUNTIME, FUNC_MEMORY_LIMIT   passed to the function in context
//
// Any method on any path but /healthz calls $FUNC_HANDLER($event, $context);
// the return value is the body (a string as is, null as nothing, anything
// else as JSON). What the function echoes goes to stdout, not into the body.
// A Throwable answers 500 with its message. Timeouts are left to the proxy in
// front. One line per request on stdout:  2024/05/01 12:00:00 GET /path?q=1 200

function kubeless_setting(string $name, ?string $default = null): ?string
{
    $value = getenv($name);
    return ($value === false || $value === '') ? $default : $value;
}

function kubeless_function_file(): string
{
    return rtrim(kubeless_setting('KUBELESS_DIR', '/kubeless'), '/') . '/' . kubeless_setting('MOD_NAME') . '.php';
}

// Loads the function file once per request; throws if the handler is missing.
function kubeless_load_handler(): string
{
    $handler = (string) kubeless_setting('FUNC_HANDLER');
    require_once kubeless_function_file();
    if (!function_exists($handler)) {
        throw new RuntimeException(kubeless_function_file() . " defines no function $handler");
    }
    return $handler;
}

function kubeless_launch(): void
{
    foreach (['MOD_NAME', 'FUNC_HANDLER'] as $name) {
        if (kubeless_setting($name) === null) {
            fwrite(STDERR, "kubeless.php: $name is not set\n");
            exit(1);
        }
    }
    try {
        kubeless_load_handler();
    } catch (Throwable $e) {
        fwrite(STDERR, 'kubeless.php: cannot load ' . kubeless_function_file() . ': ' . $e->getMessage() . "\n");
        exit(1);
    }
    if (!function_exists('pcntl_exec')) {
        fwrite(STDERR, "kubeless.php: no pcntl here; run php -d enable_post_data_reading=0 -S 127.0.0.1:8090 kubeless.php\n");
        exit(1);
    }
    $environment = getenv();
    $environment['PHP_CLI_SERVER_WORKERS'] = kubeless_setting('PHP_CLI_SERVER_WORKERS', '4');
    $address = '127.0.0.1:' . kubeless_setting('RUNTIME_PORT', '8090');
    pcntl_exec(PHP_BINARY, ['-d', 'enable_post_data_reading=0', '-S', $address, __FILE__], $environment);
    fwrite(STDERR, "kubeless.php: cannot start " . PHP_BINARY . "\n");
    exit(1);
}

function kubeless_header(string $name): ?string
{
    $value = $_SERVER['HTTP_' . strtoupper(str_replace('-', '_', $name))] ?? '';
    return $value === '' ? null : $value;
}

function kubeless_event(): array
{
    $body = (string) file_get_contents('php://input');
    $data = $body;
    $type = strtolower(trim(explode(';', $_SERVER['CONTENT_TYPE'] ?? '')[0]));
    if ($body !== '' && preg_match('#^application/(.+\+)?json$#', $type)) {
        $parsed = json_decode($body, true);
        if (json_last_error() === JSON_ERROR_NONE) {
            $data = $parsed;
        }
    }
    $target = $_SERVER['REQUEST_URI'] ?? '/';
    return [
        'data' => $data,
        'event-id' => kubeless_header('event-id') ?? bin2hex(random_bytes(11)),
        'event-type' => kubeless_header('event-type') ?? 'application/json',
        'event-time' => kubeless_header('event-time') ?? gmdate('Y-m-d H:i:s') . ' +0000 UTC',
        'event-namespace' => kubeless_header('event-namespace') ?? 'cli.kubeless.io',
        'extensions' => ['request' => [
            'method' => $_SERVER['REQUEST_METHOD'] ?? 'GET',
            'path' => explode('?', $target, 2)[0],
            'query' => $_SERVER['QUERY_STRING'] ?? '',
            'headers' => getallheaders(),
            'body' => $body,
        ]],
    ];
}

function kubeless_context(): array
{
    return [
        'function-name' => kubeless_setting('MOD_NAME'),
        'timeout' => kubeless_setting('FUNC_TIMEOUT', '180'),
        'runtime' => kubeless_setting('FUNC_RUNTIME', 'php' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION),
        'memory-limit' => kubeless_setting('FUNC_MEMORY_LIMIT'),
    ];
}

function kubeless_serve(): void
{
    ini_set('display_errors', 'stderr');
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    $target = $_SERVER['REQUEST_URI'] ?? '/';
    register_shutdown_function(function () use ($method, $target) {
        $status = http_response_code();
        file_put_contents('php://stdout', date('Y/m/d H:i:s') . " $method $target " . ($status ?: 200) . "\n");
    });

    header('Content-Type: text/plain; charset=utf-8');
    if (explode('?', $target, 2)[0] === '/healthz') {
        echo 'OK';
        return;
    }
    ob_start();
    try {
        $handler = kubeless_load_handler();
        $result = $handler(kubeless_event(), kubeless_context());
        $body = match (true) {
            is_string($result) => $result,
            $result === null => '',
            default => json_encode($result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR),
        };
        if (!is_string($result) && $result !== null) {
            header('Content-Type: application/json');
        }
    } catch (Throwable $e) {
        error_log('kubeless.php: ' . get_class($e) . ': ' . $e->getMessage());
        http_response_code(500);
        $body = $e->getMessage() . "\n";
    } finally {
        $printed = ob_get_clean();
        if ($printed !== false && $printed !== '') {
            file_put_contents('php://stdout', $printed);
        }
    }
    echo $body;
}

if (PHP_SAPI === 'cli') {
    kubeless_launch();
} elseif (PHP_SAPI === 'cli-server') {
    kubeless_serve();
} else {
    http_response_code(500);
    echo "kubeless.php runs under php -S only\n";
}
