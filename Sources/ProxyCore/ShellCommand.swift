/// `FUNC_PROCESS` as the process to start. The Kubeless proxy ran it with
/// `/bin/sh -c`, and so does this one; but Debian's dash does not replace
/// itself with a lone command, so the proxy would watch, signal and report
/// the shell instead of the runtime (a runtime's exit 3 on SIGTERM would
/// come back as the shell's 143). A command that is one simple command
/// (`ruby /kubeless.rb`, `gunicorn --bind :$PORT app:app`, `A=1 node x.js`)
/// is therefore run as `exec <command>`: the shell expands it as before,
/// then becomes the runtime. Anything else (lists, pipelines, `&&`,
/// compound commands, a builtin with no program of its own) runs unchanged.
public enum ShellCommand {
    /// The argument vector that starts `command`.
    public static func arguments(for command: String) -> [String] {
        ["/bin/sh", "-c", execForm(command)]
    }

    /// `command` with `exec` put before its command word when it is one
    /// simple command; otherwise `command` itself.
    public static func execForm(_ command: String) -> String {
        guard let start = commandWordStart(command) else { return command }
        let bytes = Array(command.utf8)
        return String(decoding: bytes[..<start] + Array("exec ".utf8) + bytes[start...], as: UTF8.self)
    }

    /// Where the command word of a simple command begins (after any
    /// `NAME=value` assignments), or nil when `exec` cannot go there.
    static func commandWordStart(_ command: String) -> Int? {
        var bytes = Array(command.utf8)
        // Trailing white space and newlines (a YAML block value ends in one) end nothing.
        while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") || last == UInt8(ascii: "\n") {
            bytes.removeLast()
        }
        guard let words = topLevelWords(bytes) else { return nil }
        guard let word = words.first(where: { !isAssignment($0.text) }) else { return nil }
        if keepsItsShell.contains(word.text) { return nil }
        // A redirection in command position (`>log ruby x`): left alone.
        if let first = word.text.first, first == UInt8(ascii: "<") || first == UInt8(ascii: ">") || first.isDigit && word.text.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) {
            return nil
        }
        return word.start
    }

    /// The words outside quotes and substitutions, or nil when the text is
    /// more than one simple command: an unquoted `;`, `&` (but `>&`, `<&`),
    /// `|`, `(`, `)` or newline, or an unfinished quote. A backslash-newline
    /// joins lines, as the shell's does.
    static func topLevelWords(_ bytes: [UInt8]) -> [(start: Int, text: [UInt8])]? {
        var words: [(start: Int, text: [UInt8])] = []
        var current: [UInt8] = []
        var currentStart = 0
        var quote: UInt8?  // ' or " while inside one
        var substitutionDepth = 0  // inside $( ... ), nesting
        var expansionDepth = 0  // inside ${ ... }, nesting
        var inBackticks = false
        var index = 0
        func endWord() {
            if !current.isEmpty { words.append((currentStart, current)) }
            current = []
        }
        while index < bytes.count {
            let byte = bytes[index]
            defer { index += 1 }
            if quote == UInt8(ascii: "'") {
                if byte == UInt8(ascii: "'") { quote = nil }
                current.append(byte)
                continue
            }
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") {
                // A line continuation: removed before anything else reads the line.
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\\") {
                if current.isEmpty { currentStart = index }
                current.append(byte)
                if index + 1 < bytes.count { current.append(bytes[index + 1]); index += 1 }
                continue
            }
            if byte == UInt8(ascii: "`") {
                inBackticks.toggle()
            } else if byte == UInt8(ascii: "$"), index + 1 < bytes.count, !inBackticks,
                      bytes[index + 1] == UInt8(ascii: "(") || bytes[index + 1] == UInt8(ascii: "{") {
                // `$(` starts a command substitution, `${` a parameter expansion.
                if bytes[index + 1] == UInt8(ascii: "(") { substitutionDepth += 1 } else { expansionDepth += 1 }
                if current.isEmpty { currentStart = index }
                current.append(contentsOf: [byte, bytes[index + 1]])
                index += 1
                continue
            } else if expansionDepth > 0 && substitutionDepth == 0 && !inBackticks {
                // `${A:-a b}`: white space inside does not split the word.
                if byte == UInt8(ascii: "{") { expansionDepth += 1 }
                if byte == UInt8(ascii: "}") { expansionDepth -= 1 }
            } else if substitutionDepth > 0 || inBackticks {
                // Parentheses nest inside: `$((8090))`, `$(f (x))`.
                if byte == UInt8(ascii: "(") && !inBackticks { substitutionDepth += 1 }
                if byte == UInt8(ascii: ")") && !inBackticks { substitutionDepth -= 1 }
            } else if quote == UInt8(ascii: "\"") {
                if byte == UInt8(ascii: "\"") { quote = nil }
            } else {
                switch byte {
                case UInt8(ascii: "'"), UInt8(ascii: "\""):
                    quote = byte
                case UInt8(ascii: " "), UInt8(ascii: "\t"):
                    endWord()
                    continue
                case UInt8(ascii: ";"), UInt8(ascii: "|"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\n"):
                    return nil
                case UInt8(ascii: "&"):
                    // `2>&1`, `<&0`: a redirection, not a control operator.
                    guard let last = current.last, last == UInt8(ascii: ">") || last == UInt8(ascii: "<") else { return nil }
                case UInt8(ascii: "#") where current.isEmpty:
                    // A comment runs to the end of the line; a line after it is a second command.
                    if bytes[index...].contains(UInt8(ascii: "\n")) { return nil }
                    endWord()
                    return words
                default:
                    break
                }
            }
            if current.isEmpty { currentStart = index }
            current.append(byte)
        }
        guard quote == nil, substitutionDepth == 0, expansionDepth == 0, !inBackticks else { return nil }
        endWord()
        return words
    }

    /// `NAME=value`: an assignment for the command that follows.
    static func isAssignment(_ word: [UInt8]) -> Bool {
        guard let equals = word.firstIndex(of: UInt8(ascii: "=")), equals > 0, !word[0].isDigit else { return false }
        return word[..<equals].allSatisfy { $0.isDigit || $0 == UInt8(ascii: "_") || ($0 | 0x20 >= UInt8(ascii: "a") && $0 | 0x20 <= UInt8(ascii: "z")) }
    }

    /// Command words that `exec` would break or that already exec: reserved
    /// words (compound commands) and builtins with no program behind them.
    private static let keepsItsShell: Set<[UInt8]> = Set([
        "exec", "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in", "{", "}", "!",
        "[[", "function", "select", "time", "cd", "export", "eval", ".", "source", "set", "unset", "ulimit", "umask", "trap",
        "wait", "read", "alias", "unalias", "shift", "exit", "return", "readonly", "local", "hash", "type", "command",
        "getopts", "jobs", "fg", "bg", "break", "continue", ":", "times", "chdir",
    ].map { Array($0.utf8) })
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}
