import Testing

@testable import ProxyCore

@Suite struct ShellCommandTests {
    // One simple command becomes `exec` + the command, so the shell turns into the runtime (dash would otherwise stay as its parent).
    @Test(arguments: [
        ("ruby /kubeless.rb", "exec ruby /kubeless.rb"),
        ("python3 runtime.py", "exec python3 runtime.py"),
        ("gunicorn --bind :$PORT app:app", "exec gunicorn --bind :$PORT app:app"),
        ("  node /kubeless/server.js", "  exec node /kubeless/server.js"),
        ("A=1 B='x y' node x.js", "A=1 B='x y' exec node x.js"),
        ("ruby x.rb 2>&1", "exec ruby x.rb 2>&1"),
        ("php -S 0.0.0.0:$((8090)) -t /app", "exec php -S 0.0.0.0:$((8090)) -t /app"),
        ("python3 -c 'import a; a.run()'", "exec python3 -c 'import a; a.run()'"),
        ("node \"$(dirname $0)/server.js\"", "exec node \"$(dirname $0)/server.js\""),
        ("ruby x.rb # the runtime", "exec ruby x.rb # the runtime"),
        ("echo a\\;b", "exec echo a\\;b"),
        ("A=1 \\\n  B=2 \\\n  node app.js", "A=1 \\\n  B=2 \\\n  exec node app.js"),
        ("\\\nA=1 node x.js", "\\\nA=1 exec node x.js"),
        ("OPTS=${OPTS:---workers 2} gunicorn app:app", "OPTS=${OPTS:---workers 2} exec gunicorn app:app"),
        ("A=${X:-a b} B=${Y:-${Z:-c d}} printenv A", "A=${X:-a b} B=${Y:-${Z:-c d}} exec printenv A"),
        ("ruby /kubeless.rb\n", "exec ruby /kubeless.rb\n"),
    ])
    func simpleCommandIsExeced(command: String, expected: String) {
        #expect(ShellCommand.execForm(command) == expected)
        #expect(ShellCommand.arguments(for: command) == ["/bin/sh", "-c", expected])
    }

    // Lists, pipelines, background jobs, compound commands, builtins, an existing exec and unfinished quotes run as written.
    @Test(arguments: [
        "cd /app && ruby x.rb", "ruby a.rb; ruby b.rb", "ruby a.rb | tee log", "ruby a.rb &", "(cd /app; ruby x.rb)",
        "if true; then ruby x.rb; fi", "exec ruby x.rb", "cd /app", "A=1", "ulimit -n 4096", "ruby 'x.rb", "ruby x.rb\nruby y.rb",
        "{ ruby x.rb; }", ">log ruby x.rb", "", "printf x # start\necho after", "A=${X:-a", "times",
    ])
    func otherCommandsRunUnchanged(command: String) {
        #expect(ShellCommand.execForm(command) == command)
    }
}
